/* placeholder: the DSP transfer process (issue 5) */

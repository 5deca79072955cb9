/*
 * test_dsp.h - helpers of the DSP core's unit tests (test_dsp_*.c): the
 * official DSP 2025-1 artifacts (examples, the schema validator) read
 * from the shared spec directory, and files.
 */
#ifndef MIM_TEST_DSP_H
#define MIM_TEST_DSP_H

#include <stddef.h>

#include <jansson.h>

/* the official schemas and examples, and their validator (paths from
   t/unit, where `make unit` runs the tests) */
#ifndef TD_SPEC_DIR
#define TD_SPEC_DIR   "../../../shared/spec/dsp-2025-1"
#endif
#ifndef TD_VALIDATE
#define TD_VALIDATE   "../../../shared/tools/dsp_validate.py"
#endif
#define TD_PYTHON     "/usr/bin/python3"

/* the repository's root, from t/unit */
#define TD_ROOT       "../.."

/* a file's bytes plus a NUL (malloc()ed); the test fails if unreadable */
char *td_read(const char *path, size_t *len);

/* an example of the spec: "negotiation/example/contract-negotiation.json" */
char *td_example(const char *rel, size_t *len);

/* text as JSON; the test fails if it is not */
json_t *td_json(const char *text);

/*
 * Validate documents (JSON texts) with the official validator, in one
 * run: the test fails with its output unless every one is valid.  A
 * document without "@type" is checked as a VersionResponse.
 */
void td_validate(const char *const *texts, size_t n);

/* a new temporary directory (malloc()ed path) and its removal */
char *td_temp_dir(void);
void td_temp_dir_remove(char *dir);

/* write text to dir/name */
void td_write(const char *dir, const char *name, const char *text);

#endif /* MIM_TEST_DSP_H */

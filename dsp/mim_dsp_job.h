/*
 * mim_dsp_job.h - the provider's outbox jobs and operator decisions
 * (pure C, no nginx).
 *
 * A job is a message the provider owes a consumer: the ContractAgreement-
 * Message, the FINALIZED event or a termination of one negotiation.  It
 * names the negotiation, not the bytes: the message is built from the
 * record when it is sent, so a retry after a reload or a crash sends what
 * the record says then.  Jobs are stored as JSON (Redis mim:outbox:jobs).
 */
#ifndef MIM_DSP_JOB_H
#define MIM_DSP_JOB_H

#include <stddef.h>

#include "mim_result.h"

typedef enum {
    MIM_DSP_JOB_AGREEMENT = 1,   /* send the ContractAgreementMessage */
    MIM_DSP_JOB_FINALIZE,        /* send the event FINALIZED */
    MIM_DSP_JOB_TERMINATE,       /* send our termination */

    /* of a transfer process (pid: its providerPid, mim:tp:<pid>) */
    MIM_DSP_JOB_TP_START,        /* REQUESTED -> STARTED, then send the
                                    TransferStartMessage (or just send it,
                                    when already STARTED: a resume) */
    MIM_DSP_JOB_TP_SUSPEND,      /* send our TransferSuspensionMessage */
    MIM_DSP_JOB_TP_COMPLETE,     /* send our TransferCompletionMessage */
    MIM_DSP_JOB_TP_TERMINATE     /* send our TransferTerminationMessage */
} mim_dsp_job_kind_t;

#define MIM_DSP_JOB_LAST  MIM_DSP_JOB_TP_TERMINATE

/* a job of a transfer process (its kind's name starts with "transfer-") */
#define mim_dsp_job_is_transfer(kind)  ((kind) >= MIM_DSP_JOB_TP_START)

typedef struct {
    mim_dsp_job_kind_t   kind;
    char                *pid;        /* the negotiation's providerPid */
    unsigned             attempt;    /* deliveries tried so far */
    char                *code;       /* TERMINATE: code and reason, or NULL */
    char                *reason;
} mim_dsp_job_t;

/* "agreement", "finalize", "terminate", "transfer-start",
   "transfer-suspend", "transfer-complete", "transfer-terminate"; and back
   (0, or -1) */
const char *mim_dsp_job_kind_name(mim_dsp_job_kind_t kind);
int mim_dsp_job_kind_parse(const char *s, mim_dsp_job_kind_t *kind);

mim_result_t mim_dsp_job_to_json(const mim_dsp_job_t *job, char **out,
    size_t *len);
mim_result_t mim_dsp_job_from_json(mim_dsp_job_t *job, const char *json,
    size_t len);
void mim_dsp_job_free(mim_dsp_job_t *job);

/*
 * An operator's termination (POST <admin>/negotiations/:pid/terminate):
 * an empty body, or a JSON object with optional string members "code" and
 * "reason" (each at most 512 bytes).  *code and *reason are malloc()ed or
 * NULL.
 */
mim_result_t mim_dsp_decision_parse(const char *json, size_t len,
    char **code, char **reason);

#endif /* MIM_DSP_JOB_H */

/*
 * mim_policy_query.c - questions the glue asks about a compiled policy
 * (mim_policy.h), kept apart from the parser and the evaluator.
 */
#include "mim_policy_int.h"

int
mim_policy_uses_count(const mim_policy_t *policy)
{
    size_t i;

    if (policy == NULL) {
        return 0;
    }
    /* every constraint, wherever it sits, is one node of the flat array */
    for (i = 0; i < policy->nnodes; i++) {
        if (policy->nodes[i].type == MP_N_ATOM
            && policy->nodes[i].lop == MP_LOP_COUNT)
        {
            return 1;
        }
    }
    return 0;
}

/*
 * test_dsp_util.c - helpers of the DSP core's unit tests (test_dsp.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "test_dsp.h"

char *
td_read(const char *path, size_t *len)
{
    FILE    *f = fopen(path, "rb");
    char    *buf;
    long     n;

    cr_assert_not_null(f, "cannot open %s (the DSP spec files are in "
                       "/work/shared/spec)", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    buf = malloc((size_t) n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL) {
        *len = (size_t) n;
    }
    return buf;
}

char *
td_example(const char *rel, size_t *len)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", TD_SPEC_DIR, rel);
    return td_read(path, len);
}

json_t *
td_json(const char *text)
{
    json_error_t   err;
    json_t        *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);

    cr_assert_not_null(v, "not JSON (%s): %s", err.text, text);
    return v;
}

char *
td_temp_dir(void)
{
    char  *dir = strdup("/tmp/mim-dsp-XXXXXX");

    cr_assert_not_null(dir);
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

void
td_temp_dir_remove(char *dir)
{
    char  cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

void
td_write(const char *dir, const char *name, const char *text)
{
    char   path[512];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    fclose(f);
}

void
td_validate(const char *const *texts, size_t n)
{
    char    *dir, name[32], *cmd, out[8192];
    size_t   i, len, used = 0;
    FILE    *p;
    int      status;

    cr_assert_eq(access(TD_PYTHON, X_OK), 0, "%s is missing (Debian "
                 "python3, python3-jsonschema)", TD_PYTHON);
    cr_assert_eq(access(TD_VALIDATE, R_OK), 0, "%s is missing",
                 TD_VALIDATE);
    dir = td_temp_dir();
    len = strlen(TD_PYTHON) + strlen(TD_VALIDATE) + 16;
    cmd = malloc(len + n * (strlen(dir) + 32));
    cr_assert_not_null(cmd);
    sprintf(cmd, "%s %s", TD_PYTHON, TD_VALIDATE);
    for (i = 0; i < n; i++) {
        /* every document is JSON before the schema is asked */
        json_decref(td_json(texts[i]));
        snprintf(name, sizeof(name), "doc%zu.json", i);
        td_write(dir, name, texts[i]);
        sprintf(cmd + strlen(cmd), " %s/%s", dir, name);
    }
    strcat(cmd, " 2>&1");
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (used < sizeof(out) - 1
           && (len = fread(out + used, 1, sizeof(out) - 1 - used, p)) > 0)
    {
        used += len;
    }
    out[used] = '\0';
    status = pclose(p);
    free(cmd);
    td_temp_dir_remove(dir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        for (i = 0; i < n; i++) {
            fprintf(stderr, "doc%zu.json: %s\n", i, texts[i]);
        }
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the DSP 2025-1 schemas refuse what we built:\n%s", out);
}

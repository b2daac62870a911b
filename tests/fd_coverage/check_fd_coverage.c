/* Every op with a backward kernel has a finite-difference check (issue 10).
 *
 * usage: check_fd_coverage TEST_PROGRAM...
 *
 * Runs each kernel test program with BNNC_FD_RECORD naming a scratch file;
 * their finite-difference checks (ke_check_grad, kn_check_backward, the RNN
 * test's own) append the name of each op they checked there (fd_record.h),
 * and only after comparing at least one element.  The ops that need a check
 * come from the library under test, not from a list kept here: every op of
 * ops.def whose kernel (bnn_kernel_get) has a backward function.  Fails
 * naming each such op no check ran for, and fails if a program fails.
 * Prints the table of ops with a backward kernel and their check counts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bnn_ir.h"
#include "kernel.h"

static int run_program(const char *program, const char *record)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setenv("BNNC_FD_RECORD", record, 1);
        execl(program, program, (char *)NULL);
        fprintf(stderr, "check_fd_coverage: cannot run %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: check_fd_coverage TEST_PROGRAM...\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR");
    char record[4096];
    snprintf(record, sizeof record, "%s/bnnc_fd_record_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(record);
    if (fd < 0) {
        fprintf(stderr, "check_fd_coverage: cannot create %s: %s\n", record, strerror(errno));
        return 2;
    }
    close(fd);

    int failed_programs = 0;
    for (int i = 1; i < argc; i++) {
        int rc = run_program(argv[i], record);
        if (rc != 0) {
            printf("FAIL %s exited with status %d\n", argv[i], rc);
            failed_programs++;
        }
    }

    int checks[BNN_OP_COUNT] = {0};
    FILE *f = fopen(record, "r");
    char line[256];
    int unknown = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        bnn_op op = bnn_op_find(line);
        if (op == BNN_OP_COUNT) {
            printf("FAIL a check recorded '%s', which is no op\n", line);
            unknown++;
        } else {
            checks[op]++;
        }
    }
    if (f)
        fclose(f);
    remove(record);

    int with_backward = 0, missing = 0;
    printf("\n%-28s %s\n", "op with a backward kernel", "finite-difference checks run");
    for (int op = 0; op < BNN_OP_COUNT; op++) {
        if (!bnn_kernel_get((bnn_op)op)->backward) {
            if (checks[op])
                printf("note: '%s' has no backward kernel but %d gradient checks recorded it\n",
                       bnn_op_get((bnn_op)op)->name, checks[op]);
            continue;
        }
        with_backward++;
        printf("%-28s %d\n", bnn_op_get((bnn_op)op)->name, checks[op]);
        if (!checks[op])
            missing++;
    }
    printf("\n%d ops have a backward kernel, %d of them without a finite-difference check\n",
           with_backward, missing);
    for (int op = 0; op < BNN_OP_COUNT; op++)
        if (bnn_kernel_get((bnn_op)op)->backward && !checks[op])
            printf("FAIL op '%s' has a backward kernel but no finite-difference check ran for it "
                   "(add one with ke_check_grad or kn_check_backward)\n",
                   bnn_op_get((bnn_op)op)->name);
    if (with_backward == 0)
        printf("FAIL no op has a backward kernel: the enumeration is broken\n");
    return failed_programs || missing || unknown || with_backward == 0 ? 1 : 0;
}

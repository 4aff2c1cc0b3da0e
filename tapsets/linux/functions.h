/*
 * Declarations of kernel functions that BTF leaves out, so that their parameters can be read by
 * name ($filename, $filename->name) all the same. pahole drops a function from BTF when GCC
 * compiled it as an optimised clone (do_execveat_common.isra.0); tstap then reads the clone's
 * arguments by the declaration here, and says so in a warning, since a clone may take fewer.
 *
 * One C declaration per function, parameters named; struct, union and enum types and typedefs are
 * looked up in the running kernel's BTF. A file of this name in a -I directory (or a kernel-version
 * or architecture subdirectory, like any tapset) takes the place of this one.
 */

/* fs/exec.c, Linux 5.9 and later. */
int do_execveat_common(int fd, struct filename *filename, struct user_arg_ptr argv, struct user_arg_ptr envp, int flags);

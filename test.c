/* test.c - the test suite, benchmark and helper modes of forkserver.h.

   cc -pthread test.c -o test && ./test       run every test
   ./test NAME...                             run the named tests
   ./test --list                              list the tests
   ./test --bench                             the benchmark table

   Each test runs in its own process (its own process group) under a
   timeout, so a hang or a crash fails that test alone.  A test exits 0 to
   pass, 77 to skip (after printing why), anything else to fail.  The runner
   ends with the line "N passed, N failed". */
#define _GNU_SOURCE
#define FORKSERVER_IMPLEMENTATION
#include "forkserver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the runner ---------------------------------------------------------- */

static char t_exe[PATH_MAX]; /* this program, for children that exec it */
/* FSRV_TEST_SLOW: how much slower this build runs (sanitizers, valgrind).
   Timeouts and the cases' time bounds are multiplied by it; it is 1 in the
   plain builds, where the bounds are exactly the cases' own. */
static double t_slow = 1.0;

/* The number of rounds of a heavy loop.  The slow builds look for memory
   and thread errors, which a tenth of the rounds shows as well; the counts
   the cases name run in full in the plain gcc, clang and musl builds. */
static int t_heavy(int n)
{
    return t_slow > 1.0 ? (n + 9) / 10 : n;
}
static char t_dir[PATH_MAX]; /* a scratch directory of this test's own */

#define CHECK(c) \
    do { if (!(c)) t_fail(__FILE__, __LINE__, #c); } while (0)
#define CHECK_ERR(call, e) \
    do { errno = 0; CHECK((call) == -1); CHECK_ERRNO(e); } while (0)
#define CHECK_GONE(call) /* the server is gone: ECONNRESET or EPIPE */ \
    do { errno = 0; CHECK((call) == -1); \
         CHECK(errno == ECONNRESET || errno == EPIPE); } while (0)
#define CHECK_ERRNO(e) \
    do { if (errno != (e)) t_fail_errno(__FILE__, __LINE__, #e, errno); } \
    while (0)

static const char *t_base(const char *file)
{
    return strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
}

static void t_fail(const char *file, int line, const char *what)
{
    int e = errno;
    fprintf(stderr, "    %s:%d: CHECK(%s) failed (errno %d: %s)\n",
            t_base(file), line, what, e, strerror(e));
    fflush(NULL);
    _exit(1);
}

static void t_fail_errno(const char *file, int line, const char *want,
                         int got)
{
    fprintf(stderr, "    %s:%d: errno %s expected, got %d (%s)\n",
            t_base(file), line, want, got, strerror(got));
    fflush(NULL);
    _exit(1);
}

static void t_skip(const char *why)
{
    printf("    skipped: %s\n", why);
    fflush(NULL);
    _exit(77);
}

static double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void t_sleep_ms(int ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- helpers shared by the tests ----------------------------------------- */

/* Entry functions: argv[0] names what the child does. */
static int t_entry(int argc, char **argv, void *arg)
{
    (void)arg;
    if (!strcmp(argv[0], "exit"))
        return argc > 1 ? atoi(argv[1]) : 0;
    if (!strcmp(argv[0], "raise")) {
        struct rlimit no = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no);
        raise(atoi(argv[1]));
        return 99;
    }
    if (!strcmp(argv[0], "sleep")) { /* sleep MS: poll, wakes by nothing */
        poll(NULL, 0, atoi(argv[1]));
        return 0;
    }
    if (!strcmp(argv[0], "read0")) { /* exit when fd 0 reaches EOF */
        char b;
        while (read(0, &b, 1) > 0)
            ;
        return 3;
    }
    if (!strcmp(argv[0], "print")) { /* stdio, flushed by the library */
        fputs(argv[1], stdout);
        return 0;
    }
    if (!strcmp(argv[0], "ids")) { /* pid pgid sid, to fd 1 */
        printf("%d %d %d", (int)getpid(), (int)getpgid(0), (int)getsid(0));
        return 0;
    }
    if (!strcmp(argv[0], "env")) { /* value of argv[1] in environ */
        const char *v = getenv(argv[1]);
        printf("%s", v ? v : "(unset)");
        return 0;
    }
    return 100;
}

static fsrv_config t_cfg = { t_entry, NULL, 0 };

static int t_start_execd(fsrv_client *c, const fsrv_config *cfg);

/* With FSRV_TEST_EXECD set, every test that starts its server here runs
   against a server exec'd as its own program and attached. */
static void t_start(fsrv_client *c)
{
    if (getenv("FSRV_TEST_EXECD"))
        CHECK(t_start_execd(c, &t_cfg) == 0);
    else
        CHECK(fsrv_start(c, &t_cfg) == 0);
}

static pid_t t_run(fsrv_client *c, const char *const *argv, unsigned flags)
{
    fsrv_launch_opts o;
    memset(&o, 0, sizeof o);
    o.flags = flags;
    return fsrv_launch(c, (char *const *)argv, NULL, &o);
}

static int t_wait(fsrv_client *c, pid_t pid)
{
    int st = -1;
    CHECK(fsrv_waitpid(c, pid, &st, 0) == pid);
    return st;
}

static int EXITED(int st, int code)
{
    return WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static int KILLED(int st, int sig)
{
    return WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

/* Launches argv with stdout mapped to a pipe and returns everything the
   child wrote, waiting for its exit; *st receives its status. */
static char *t_output(fsrv_client *c, const char *const *argv, char *const *envp,
                      unsigned flags, const char *cwd, int *st)
{
    static char buf[1 << 16];
    size_t n = 0;
    ssize_t r;
    int p[2];
    fsrv_fd map;
    fsrv_launch_opts o;
    pid_t pid;
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    map.parent_fd = p[1];
    map.child_fd = 1;
    memset(&o, 0, sizeof o);
    o.fds = &map;
    o.nfds = 1;
    o.flags = flags;
    o.cwd = cwd;
    pid = fsrv_launch(c, (char *const *)argv, envp, &o);
    CHECK(pid > 0);
    close(p[1]);
    while ((r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(p[0]);
    buf[n] = 0;
    *st = t_wait(c, pid);
    return buf;
}

static int t_count_fds(pid_t pid)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    CHECK((d = opendir(path)) != NULL);
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - (pid == getpid()); /* not the DIR's own fd */
}

/* Reads /proc/PID/stat: state letter and parent pid.  0 if gone. */
static char t_stat(pid_t pid, pid_t *ppid)
{
    char path[64], buf[512], *p;
    int fd, ppid_i = 0;
    ssize_t n;
    char state = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    if (!(p = strrchr(buf, ')')) || sscanf(p + 2, "%c %d", &state, &ppid_i) != 2)
        return 0;
    if (ppid)
        *ppid = ppid_i;
    return state;
}

/* Children of `parent` in /proc; with zombies_only, only those in state Z. */
static int t_children(pid_t parent, int zombies_only)
{
    struct dirent *e;
    DIR *d = opendir("/proc");
    int n = 0;
    CHECK(d != NULL);
    while ((e = readdir(d))) {
        pid_t pid = atoi(e->d_name), pp = 0;
        char s;
        if (pid <= 0)
            continue;
        s = t_stat(pid, &pp);
        if (s && pp == parent && (!zombies_only || s == 'Z'))
            n++;
    }
    closedir(d);
    return n;
}

/* One round trip: the server answers requests in order and reaps a child
   right after telling its status, so once this returns it has finished
   everything asked of it before. */
static void t_sync(fsrv_client *c)
{
    CHECK_ERR(fsrv_kill(c, 1, 0), ESRCH);
}

/* The zombie check: no zombie child of the server, and its fd count back
   at `fds0`. */
static void t_zombie_check(fsrv_client *c, int fds0)
{
    pid_t s = fsrv_server_pid(c);
    t_sync(c);
    CHECK(t_children(s, 1) == 0);
    CHECK(t_count_fds(s) == fds0);
}

static int t_alive(pid_t pid)
{
    char s = t_stat(pid, NULL);
    return s && s != 'Z';
}

/* out holds the SigIgn and SigBlk lines of a child's /proc status. */
static void t_check_clean_signals(const char *out)
{
    if (!strstr(out, "SigBlk:\t0000000000000000") ||
        !strstr(out, "SigIgn:\t0000000000000000")) {
        fprintf(stderr, "    child's signal state:\n%s", out);
        CHECK(!"nothing ignored or blocked in the child");
    }
}

static void t_write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(close(fd) == 0);
    CHECK(chmod(path, mode) == 0);
}

static void *t_spin(void *arg)
{
    volatile unsigned long x = 0;
    (void)arg;
    for (;;)
        x++;
    return NULL;
}

/* A busy-looping process per CPU, killed when the test process exits. */
static void t_load_cpus(void)
{
    long i, n = sysconf(_SC_NPROCESSORS_ONLN);
    for (i = 0; i < n; i++) {
        pid_t p = fork();
        CHECK(p >= 0);
        if (p == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            t_spin(NULL);
        }
    }
}

/* ---- fsrv_start, fsrv_stop, the server's own state ----------------------- */

static void test_start_stop(void)
{
    fsrv_client c;
    pid_t s;
    t_start(&c);
    s = fsrv_server_pid(&c);
    CHECK(s > 0 && t_alive(s));
    CHECK(fsrv_notify_fd(&c) >= 0);
    CHECK(fcntl(fsrv_notify_fd(&c), F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(fsrv_notify_fd(&c), F_GETFD) & FD_CLOEXEC);
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(t_stat(s, NULL) == 0); /* reaped, not a zombie */
    CHECK(waitpid(s, NULL, WNOHANG) == -1 && errno == ECHILD);
}

static void test_start_bad_args(void)
{
    fsrv_client c;
    fsrv_config bad = { NULL, NULL, 0x80 };
    CHECK_ERR(fsrv_start(&c, &bad), EINVAL);
    CHECK_ERR(fsrv_start(NULL, NULL), EINVAL);
    CHECK_ERR(fsrv_stop(NULL, 0), EINVAL);
    CHECK_ERR(fsrv_attach(&c, -1, -1, -1), EINVAL);
    CHECK(fsrv_notify_fd(NULL) == -1 && fsrv_server_pid(NULL) == -1);
}

/* The server holds none of the caller's fds: a pipe's write end open in the
   caller at fsrv_start must reach EOF once the caller closes its copy. */
static void test_server_drops_caller_fds(void)
{
    fsrv_client c;
    int p[2];
    char b;
    CHECK(pipe(p) == 0); /* not close-on-exec, on purpose */
    t_start(&c);
    CHECK(t_count_fds(fsrv_server_pid(&c)) == 5); /* 0-2, channel, notify */
    close(p[1]);
    CHECK(read(p[0], &b, 1) == 0);
    fsrv_stop(&c, 0);
}

/* A terminal's signals for the foreground group never hurt the server. */
static void test_server_ignores_tty_signals(void)
{
    static const int sigs[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU,
                                SIGHUP, SIGPIPE };
    const char *argv[] = { "exit", "5", NULL };
    fsrv_client c;
    size_t i;
    t_start(&c);
    for (i = 0; i < sizeof sigs / sizeof *sigs; i++)
        CHECK(kill(fsrv_server_pid(&c), sigs[i]) == 0);
    t_sleep_ms(50);
    CHECK(t_stat(fsrv_server_pid(&c), NULL) == 'S');
    CHECK(EXITED(t_wait(&c, t_run(&c, argv, FSRV_ENTRY)), 5));
    /* SIGTERM still ends it, and the client sees the server gone. */
    CHECK(kill(fsrv_server_pid(&c), SIGTERM) == 0);
    CHECK_GONE(t_run(&c, argv, FSRV_ENTRY));
    fsrv_stop(&c, 0);
}

/* Whatever the caller did to its signals before fsrv_start, the server
   catches exits itself and its children start clean. */
static void test_hostile_parent_signals(void)
{
    const char *argv[] = { "/bin/sh", "-c",
        "grep -E '^Sig(Ign|Blk)' /proc/self/status", NULL };
    struct sigaction sa;
    sigset_t all;
    fsrv_client c;
    char *out;
    int st;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    t_start(&c);
    out = t_output(&c, argv, NULL, 0, NULL, &st);
    CHECK(EXITED(st, 0));
    t_check_clean_signals(out);
    fsrv_stop(&c, 0);
}

static void *t_idle(void *arg)
{
    (void)arg;
    for (;;)
        t_sleep_ms(1);
    return NULL;
}

/* fsrv_start from a thread with every signal blocked while other threads
   run; the server outlives that thread. */
static void *t_start_thread(void *arg)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    return (void *)(intptr_t)fsrv_start((fsrv_client *)arg, &t_cfg);
}

static void test_start_from_thread(void)
{
    const char *argv[] = { "/bin/true", NULL };
    fsrv_client c;
    pthread_t spin, th;
    void *r;
    CHECK(pthread_create(&spin, NULL, t_idle, NULL) == 0);
    CHECK(pthread_create(&th, NULL, t_start_thread, &c) == 0);
    CHECK(pthread_join(th, &r) == 0 && r == NULL);
    CHECK(EXITED(t_wait(&c, t_run(&c, argv, 0)), 0));
    CHECK(fsrv_stop(&c, 0) == 0);
}

/* Output buffered in stdio at fsrv_start is written once, never again by
   the server or an entry child. */
static void test_stdio_not_repeated(void)
{
    const char *argv[] = { "print", "child", NULL };
    fsrv_client c;
    char buf[256];
    ssize_t n, total = 0;
    int p[2];
    if (getenv("FSRV_TEST_EXECD")) /* an exec'd server has fresh stdio */
        t_skip("fsrv_start's stdio flush: an exec'd server has none");
    CHECK(pipe(p) == 0);
    CHECK(dup2(p[1], 1) == 1);
    close(p[1]);
    setvbuf(stdout, NULL, _IOFBF, 4096);
    printf("parent;");
    t_start(&c); /* "parent;" is in stdout's buffer now */
    CHECK(EXITED(t_wait(&c, t_run(&c, argv, FSRV_ENTRY)), 0));
    fsrv_stop(&c, 0);
    fflush(stdout);
    close(1);
    while ((n = read(p[0], buf + total, sizeof buf - 1 - (size_t)total)) > 0)
        total += n;
    buf[total] = 0;
    if (strcmp(buf, "parent;child") != 0) {
        fprintf(stderr, "    got \"%s\"\n", buf);
        CHECK(!"stdout written once");
    }
}

/* ---- fsrv_launch --------------------------------------------------------- */

static void test_launch_exec(void)
{
    const char *argv[] = { "/bin/sh", "-c", "echo \"$0:$1:$FOO\"", "zero",
                           "one", NULL };
    char *envp[] = { (char *)"FOO=bar", NULL };
    fsrv_client c;
    int st;
    t_start(&c);
    CHECK(!strcmp(t_output(&c, argv, envp, 0, NULL, &st), "zero:one:bar\n"));
    CHECK(EXITED(st, 0));
    fsrv_stop(&c, 0);
}

/* envp NULL: the server's environment; an empty envp: no variable at all. */
static void test_launch_env(void)
{
    const char *argv[] = { "env", "FSRV_T", NULL };
    const char *sh[] = { "/bin/sh", "-c", "env | wc -l", NULL };
    char *empty[] = { NULL };
    fsrv_client c;
    int st;
    setenv("FSRV_T", "inherited", 1);
    t_start(&c);
    CHECK(!strcmp(t_output(&c, argv, NULL, FSRV_ENTRY, NULL, &st),
                  "inherited"));
    CHECK(!strcmp(t_output(&c, argv, empty, FSRV_ENTRY, NULL, &st),
                  "(unset)"));
    /* sh itself sets a few (PWD, maybe SHLVL, _); nothing else arrives */
    CHECK(atoi(t_output(&c, sh, empty, 0, NULL, &st)) <= 3);
    fsrv_stop(&c, 0);
}

static void test_launch_search_path(void)
{
    const char *argv[] = { "fsrv-t-tool", NULL };
    char path[PATH_MAX + 64], *out;
    fsrv_client c;
    int st;
    t_start(&c);
    CHECK_ERR(t_run(&c, argv, FSRV_SEARCH_PATH), ENOENT);
    /* The caller's PATH at the time of the call counts, not the server's. */
    snprintf(path, sizeof path, "%s/fsrv-t-tool", t_dir);
    t_write_file(path, "#!/bin/sh\necho found\n", 0755);
    snprintf(path, sizeof path, "/nonexistent:%s:/bin", t_dir);
    setenv("PATH", path, 1);
    out = t_output(&c, argv, NULL, FSRV_SEARCH_PATH, NULL, &st);
    CHECK(!strcmp(out, "found\n") && EXITED(st, 0));
    CHECK_ERR(t_run(&c, argv, 0), ENOENT); /* no search without the flag */
    /* A match without execute permission is skipped but remembered. */
    snprintf(path, sizeof path, "%s/fsrv-t-tool", t_dir);
    CHECK(chmod(path, 0644) == 0);
    CHECK_ERR(t_run(&c, argv, FSRV_SEARCH_PATH), EACCES);
    fsrv_stop(&c, 0);
}

static void test_launch_cwd(void)
{
    const char *argv[] = { "/bin/pwd", "-P", NULL };
    char sub[PATH_MAX + 8], want[PATH_MAX + 16], real[PATH_MAX];
    fsrv_client c;
    int st;
    t_start(&c);
    CHECK(realpath(t_dir, real) != NULL);
    snprintf(sub, sizeof sub, "%s/sub", t_dir);
    CHECK(mkdir(sub, 0755) == 0);
    /* NULL is the caller's directory now, not the server's. */
    CHECK(chdir(t_dir) == 0);
    snprintf(want, sizeof want, "%s\n", real);
    CHECK(!strcmp(t_output(&c, argv, NULL, 0, NULL, &st), want));
    /* A relative cwd is resolved against the caller's directory. */
    snprintf(want, sizeof want, "%s/sub\n", real);
    CHECK(!strcmp(t_output(&c, argv, NULL, 0, "sub", &st), want));
    CHECK(!strcmp(t_output(&c, argv, NULL, 0, sub, &st), want));
    {
        fsrv_launch_opts o;
        memset(&o, 0, sizeof o);
        o.cwd = "missing";
        CHECK_ERR(fsrv_launch(&c, (char *const *)argv, NULL, &o), ENOENT);
        t_write_file("file", "", 0644);
        o.cwd = "file";
        CHECK_ERR(fsrv_launch(&c, (char *const *)argv, NULL, &o), ENOTDIR);
    }
    fsrv_stop(&c, 0);
}

/* Every way a setup step or exec fails comes back as its errno, and no
   child is left behind. */
static void test_launch_errors(void)
{
    char noexec[PATH_MAX + 16], garbage[PATH_MAX + 16], through[PATH_MAX + 32];
    const char *a_noent[] = { "/nonexistent/prog", NULL };
    const char *a_noexec[] = { noexec, NULL };
    const char *a_garbage[] = { garbage, NULL };
    const char *a_notdir[] = { through, NULL };
    const char *a_true[] = { "/bin/true", NULL };
    const char *a_null[] = { NULL };
    fsrv_launch_opts o;
    fsrv_fd m[2];
    fsrv_client c;
    fsrv_config nocfg = { NULL, NULL, 0 };
    int fds0;
    t_start(&c);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    snprintf(noexec, sizeof noexec, "%s/noexec", t_dir);
    t_write_file(noexec, "#!/bin/sh\n", 0644);
    snprintf(garbage, sizeof garbage, "%s/garbage", t_dir);
    t_write_file(garbage, "\177\001\002garbage", 0755);
    snprintf(through, sizeof through, "%s/noexec/x", t_dir);
    CHECK_ERR(t_run(&c, a_noent, 0), ENOENT);
    CHECK_ERR(t_run(&c, a_noexec, 0), EACCES);
    CHECK_ERR(t_run(&c, a_garbage, 0), ENOEXEC);
    CHECK_ERR(t_run(&c, a_notdir, 0), ENOTDIR);
    CHECK_ERR(fsrv_launch(&c, NULL, NULL, NULL), EINVAL);
    CHECK_ERR(t_run(&c, a_null, 0), EINVAL);
    CHECK_ERR(t_run(&c, a_true, 0x4000), EINVAL);
    CHECK_ERR(t_run(&c, a_true, FSRV_SETSID | FSRV_SETPGID), EINVAL);
    memset(&o, 0, sizeof o);
    o.fds = m;
    o.nfds = 1;
    m[0].parent_fd = 1000; /* not open */
    m[0].child_fd = 5;
    CHECK_ERR(fsrv_launch(&c, (char *const *)a_true, NULL, &o), EBADF);
    m[0].parent_fd = -1;
    CHECK_ERR(fsrv_launch(&c, (char *const *)a_true, NULL, &o), EINVAL);
    m[0].parent_fd = 1;
    m[0].child_fd = -2;
    CHECK_ERR(fsrv_launch(&c, (char *const *)a_true, NULL, &o), EINVAL);
    m[0].child_fd = 7;
    m[1] = m[0];
    o.nfds = 2; /* the same target twice */
    CHECK_ERR(fsrv_launch(&c, (char *const *)a_true, NULL, &o), EINVAL);
    o.nfds = -1;
    CHECK_ERR(fsrv_launch(&c, (char *const *)a_true, NULL, &o), EINVAL);
    o.nfds = 1;
    m[0].child_fd = 1 << 30; /* beyond RLIMIT_NOFILE: dup2 fails */
    CHECK_ERR(fsrv_launch(&c, (char *const *)a_true, NULL, &o), EBADF);
    CHECK(t_children(fsrv_server_pid(&c), 0) == 0);
    t_zombie_check(&c, fds0);
    fsrv_stop(&c, 0);
    /* FSRV_ENTRY with no entry function configured */
    CHECK(fsrv_start(&c, &nocfg) == 0);
    CHECK_ERR(t_run(&c, a_true, FSRV_ENTRY), EINVAL);
    fsrv_stop(&c, 0);
}

/* The fd mapping is one parallel assignment: a swap, a 3-cycle and stdio.
   (dash reads only one-digit fds in a redirection, hence 5 to 9.) */
static void test_launch_fd_mapping(void)
{
    const char *argv[] = { "/bin/sh", "-c",
        "echo A >&5; echo B >&6; echo C >&7; echo D >&8; echo E", NULL };
    int p[5][2], i;
    char buf[16];
    fsrv_fd m[5];
    fsrv_launch_opts o;
    fsrv_client c;
    t_start(&c);
    for (i = 0; i < 5; i++) { /* clear of 5..9 first */
        CHECK(pipe2(p[i], O_CLOEXEC) == 0);
        CHECK((p[i][0] = fcntl(p[i][0], F_DUPFD_CLOEXEC, 30)) >= 30);
        CHECK((p[i][1] = fcntl(p[i][1], F_DUPFD_CLOEXEC, 30)) >= 30);
    }
    for (i = 0; i < 5; i++)
        CHECK(dup3(p[i][1], 5 + i, O_CLOEXEC) == 5 + i);
    /* In the child: 5 and 6 swapped; 7 <- 8 <- 9 <- 7 rotated into 7, 8
       and 1. */
    m[0].parent_fd = 6; m[0].child_fd = 5;
    m[1].parent_fd = 5; m[1].child_fd = 6;
    m[2].parent_fd = 8; m[2].child_fd = 7;
    m[3].parent_fd = 9; m[3].child_fd = 8;
    m[4].parent_fd = 7; m[4].child_fd = 1;
    memset(&o, 0, sizeof o);
    o.fds = m;
    o.nfds = 5;
    CHECK(EXITED(t_wait(&c, fsrv_launch(&c, (char *const *)argv, NULL, &o)),
                 0));
    for (i = 0; i < 5; i++) {
        close(5 + i);
        close(p[i][1]);
    }
    memset(buf, 0, sizeof buf);
    CHECK(read(p[0][0], buf, sizeof buf) == 2 && !strcmp(buf, "B\n"));
    CHECK(read(p[1][0], buf, sizeof buf) == 2 && !strcmp(buf, "A\n"));
    CHECK(read(p[2][0], buf, sizeof buf) == 2 && !strcmp(buf, "E\n"));
    CHECK(read(p[3][0], buf, sizeof buf) == 2 && !strcmp(buf, "C\n"));
    CHECK(read(p[4][0], buf, sizeof buf) == 2 && !strcmp(buf, "D\n"));
    fsrv_stop(&c, 0);
}

/* Prints the child's open fds, space-separated; used through t_exe. */
static int t_mode_list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d)
        return 1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
            printf("%s ", e->d_name);
    closedir(d);
    return 0;
}

/* FSRV_INHERIT_FDS passes every fd that is not close-on-exec, at its own
   number, and explicit mappings take precedence. */
static void test_launch_inherit_fds(void)
{
    const char *argv[] = { t_exe, "--list-fds", NULL };
    const char *sh[] = { "/bin/sh", "-c", "echo X >&9", NULL };
    fsrv_client c;
    fsrv_fd m;
    fsrv_launch_opts o;
    int p[2], q[2], st;
    char buf[8], want[64], *got;
    t_start(&c);
    CHECK(pipe2(p, O_CLOEXEC) == 0 && pipe2(q, O_CLOEXEC) == 0);
    CHECK((p[0] = fcntl(p[0], F_DUPFD_CLOEXEC, 30)) >= 30);
    CHECK((q[0] = fcntl(q[0], F_DUPFD_CLOEXEC, 30)) >= 30);
    CHECK((p[1] = fcntl(p[1], F_DUPFD_CLOEXEC, 30)) >= 30);
    CHECK((q[1] = fcntl(q[1], F_DUPFD_CLOEXEC, 30)) >= 30);
    CHECK(dup2(p[1], 9) == 9); /* inheritable */
    CHECK(dup3(q[1], 8, O_CLOEXEC) == 8);
    /* Without the flag only 0-2 arrive; with it, 9 too. */
    CHECK(!strcmp(t_output(&c, argv, NULL, 0, NULL, &st), "0 1 2 "));
    got = t_output(&c, argv, NULL, FSRV_INHERIT_FDS, NULL, &st);
    snprintf(want, sizeof want, "0 1 2 9 ");
    if (strcmp(got, want))
        fprintf(stderr, "    got \"%s\", want \"%s\"\n", got, want);
    CHECK(!strcmp(got, want));
    /* An explicit mapping onto 9 wins over the inherited 9. */
    memset(&o, 0, sizeof o);
    m.parent_fd = 8;
    m.child_fd = 9;
    o.fds = &m;
    o.nfds = 1;
    o.flags = FSRV_INHERIT_FDS;
    CHECK(EXITED(t_wait(&c, fsrv_launch(&c, (char *const *)sh, NULL, &o)),
                 0));
    close(8);
    close(q[1]);
    CHECK(read(q[0], buf, sizeof buf) == 2);
    fsrv_stop(&c, 0);
}

static void test_launch_entry(void)
{
    const char *argv[] = { "exit", "42", NULL };
    const char *pr[] = { "print", "no newline", NULL };
    fsrv_client c;
    int st;
    t_start(&c);
    CHECK(EXITED(t_wait(&c, t_run(&c, argv, FSRV_ENTRY)), 42));
    /* stdio is flushed before the child exits */
    CHECK(!strcmp(t_output(&c, pr, NULL, FSRV_ENTRY, NULL, &st),
                  "no newline"));
    fsrv_stop(&c, 0);
}

static void test_launch_sessions(void)
{
    const char *argv[] = { "ids", NULL };
    fsrv_client c;
    int st, pid, pgid, sid;
    t_start(&c);
    CHECK(sscanf(t_output(&c, argv, NULL, FSRV_ENTRY, NULL, &st), "%d %d %d",
                 &pid, &pgid, &sid) == 3);
    CHECK(pgid == getpgid(0) && sid == getsid(0)); /* the caller's group */
    CHECK(sscanf(t_output(&c, argv, NULL, FSRV_ENTRY | FSRV_SETPGID, NULL,
                          &st), "%d %d %d", &pid, &pgid, &sid) == 3);
    CHECK(pgid == pid && sid == getsid(0));
    CHECK(sscanf(t_output(&c, argv, NULL, FSRV_ENTRY | FSRV_SETSID, NULL,
                          &st), "%d %d %d", &pid, &pgid, &sid) == 3);
    CHECK(pgid == pid && sid == pid);
    fsrv_stop(&c, 0);
}

/* argv plus environment of more than 1 MiB, across the memfd path. */
static void test_launch_big(void)
{
    static char vars[24][48 * 1024];
    static char arg[8][64 * 1024];
    char *envp[25];
    const char *argv[13];
    const char *sh = "n=0; for a; do n=$((n+${#a})); done; "
                     "echo $n $(env | wc -c)";
    fsrv_client c;
    int i, st;
    long n, e;
    for (i = 0; i < 24; i++) {
        snprintf(vars[i], 16, "V%02d=", i);
        memset(vars[i] + 4, 'v', sizeof vars[i] - 5);
        vars[i][sizeof vars[i] - 1] = 0;
        envp[i] = vars[i];
    }
    envp[24] = NULL;
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = sh;
    argv[3] = "sh";
    for (i = 0; i < 8; i++) {
        memset(arg[i], 'a', sizeof arg[i] - 1);
        arg[i][sizeof arg[i] - 1] = 0;
        argv[4 + i] = arg[i];
    }
    argv[12] = NULL;
    t_start(&c);
    CHECK(sscanf(t_output(&c, argv, envp, 0, NULL, &st), "%ld %ld", &n,
                 &e) == 2);
    CHECK(EXITED(st, 0));
    CHECK(n == 8 * (64 * 1024 - 1));
    CHECK(e >= 24 * (48 * 1024)); /* every variable arrived whole */
    fsrv_stop(&c, 0);
}

static void test_launch_pidfd(void)
{
    const char *argv[] = { "sleep", "100", NULL };
    fsrv_launch_opts o;
    struct pollfd p;
    fsrv_client c;
    int pidfd = -2;
    pid_t pid;
    t_start(&c);
    memset(&o, 0, sizeof o);
    o.flags = FSRV_ENTRY;
    o.pidfd = &pidfd;
    CHECK((pid = fsrv_launch(&c, (char *const *)argv, NULL, &o)) > 0);
    if (pidfd == -1)
        t_skip("the kernel has no pidfd_open (Linux < 5.3)");
    CHECK(pidfd >= 0 && (fcntl(pidfd, F_GETFD) & FD_CLOEXEC));
    p.fd = pidfd;
    p.events = POLLIN;
    CHECK(poll(&p, 1, 50) == 0); /* still running */
    CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
    CHECK(poll(&p, 1, 5000) == 1);
    CHECK(KILLED(t_wait(&c, pid), SIGKILL));
    close(pidfd);
    fsrv_stop(&c, 0);
}

/* ---- fsrv_waitpid, fsrv_kill, fsrv_reap ---------------------------------- */

static void test_waitpid(void)
{
    const char *argv[] = { "sleep", "200", NULL };
    fsrv_client c;
    int st = 12345;
    pid_t pid;
    t_start(&c);
    CHECK((pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK(fsrv_waitpid(&c, pid, &st, WNOHANG) == 0 && st == 12345);
    CHECK(fsrv_waitpid(&c, pid, NULL, 0) == pid); /* status may be NULL */
    CHECK_ERR(fsrv_waitpid(&c, pid, &st, 0), ECHILD);
    CHECK_ERR(fsrv_waitpid(&c, pid, &st, WNOHANG), ECHILD);
    CHECK_ERR(fsrv_waitpid(&c, getpid(), &st, WNOHANG), ECHILD);
    CHECK_ERR(fsrv_waitpid(&c, 0, &st, 0), EINVAL);
    CHECK_ERR(fsrv_waitpid(&c, -1, &st, 0), EINVAL);
    CHECK_ERR(fsrv_waitpid(&c, pid, &st, WUNTRACED), EINVAL);
    fsrv_stop(&c, 0);
}

/* Only exits count: a stopped child is still running. */
static void test_waitpid_stopped(void)
{
    const char *argv[] = { "sleep", "5000", NULL };
    fsrv_client c;
    pid_t pid;
    t_start(&c);
    CHECK((pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK(fsrv_kill(&c, pid, SIGSTOP) == 0);
    t_sleep_ms(50);
    CHECK(t_stat(pid, NULL) == 'T');
    CHECK(fsrv_waitpid(&c, pid, NULL, WNOHANG) == 0);
    CHECK(fsrv_kill(&c, pid, SIGCONT) == 0);
    CHECK(fsrv_waitpid(&c, pid, NULL, WNOHANG) == 0);
    CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
    CHECK(KILLED(t_wait(&c, pid), SIGKILL));
    fsrv_stop(&c, 0);
}

struct t_blocker { fsrv_client *c; pid_t pid; int done, st; };

/* Flags shared between threads: atomic, so that TSan sees them ordered. */
static int t_get(const int *flag)
{
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

static void t_set(int *flag, int v)
{
    __atomic_store_n(flag, v, __ATOMIC_RELEASE);
}

static void *t_block_wait(void *arg)
{
    struct t_blocker *b = (struct t_blocker *)arg;
    CHECK(fsrv_waitpid(b->c, b->pid, &b->st, 0) == b->pid);
    t_set(&b->done, 1);
    return NULL;
}

/* A blocking wait blocks its own thread only. */
static void test_waitpid_blocks_one_thread(void)
{
    const char *slow[] = { "sleep", "30000", NULL };
    const char *fast[] = { "exit", "9", NULL };
    struct t_blocker b[3];
    pthread_t th[3];
    fsrv_client c;
    int i;
    t_start(&c);
    for (i = 0; i < 3; i++) {
        b[i].c = &c;
        b[i].done = 0;
        CHECK((b[i].pid = t_run(&c, slow, FSRV_ENTRY)) > 0);
        CHECK(pthread_create(&th[i], NULL, t_block_wait, &b[i]) == 0);
    }
    t_sleep_ms(50);
    for (i = 0; i < 200; i++)
        CHECK(EXITED(t_wait(&c, t_run(&c, fast, FSRV_ENTRY)), 9));
    for (i = 0; i < 3; i++)
        CHECK(!t_get(&b[i].done));
    /* Exits reach the right waiter, in any order. */
    CHECK(fsrv_kill(&c, b[1].pid, SIGTERM) == 0);
    CHECK(pthread_join(th[1], NULL) == 0 && KILLED(b[1].st, SIGTERM));
    CHECK(!t_get(&b[0].done) && !t_get(&b[2].done));
    CHECK(fsrv_kill(&c, b[2].pid, SIGKILL) == 0);
    CHECK(fsrv_kill(&c, b[0].pid, SIGINT) == 0);
    CHECK(pthread_join(th[0], NULL) == 0 && KILLED(b[0].st, SIGINT));
    CHECK(pthread_join(th[2], NULL) == 0 && KILLED(b[2].st, SIGKILL));
    fsrv_stop(&c, 0);
}

/* A WNOHANG wait or a reap that collects a child some thread is blocked on
   ends that blocked wait, with ECHILD or with the status, never a hang. */
static void test_wait_races_reap(void)
{
    const char *argv[] = { "sleep", "100", NULL };
    struct t_blocker b;
    fsrv_exit ex[4];
    pthread_t th;
    fsrv_client c;
    int st, n;
    t_start(&c);
    b.c = &c;
    b.done = 0;
    CHECK((b.pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK(pthread_create(&th, NULL, t_block_wait, &b) == 0);
    t_sleep_ms(20);
    CHECK(fsrv_kill(&c, b.pid, SIGKILL) == 0);
    CHECK(pthread_join(th, NULL) == 0 && KILLED(b.st, SIGKILL));
    /* Now the reap finds a child with a blocked waiter: the waiter gets it */
    b.done = 0;
    CHECK((b.pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK(pthread_create(&th, NULL, t_block_wait, &b) == 0);
    t_sleep_ms(20);
    CHECK(fsrv_kill(&c, b.pid, SIGTERM) == 0);
    n = 0;
    while (!t_get(&b.done) && n == 0)
        n = fsrv_reap(&c, ex, 4); /* races with the server's own scan */
    CHECK(n == 0);
    CHECK(pthread_join(th, NULL) == 0 && KILLED(b.st, SIGTERM));
    (void)st;
    fsrv_stop(&c, 0);
}

static void test_kill(void)
{
    const char *argv[] = { "sleep", "100", NULL };
    fsrv_client c;
    pid_t pid;
    t_start(&c);
    CHECK((pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK(fsrv_kill(&c, pid, 0) == 0);
    CHECK_ERR(fsrv_kill(&c, pid, -1), EINVAL);
    CHECK_ERR(fsrv_kill(&c, pid, 1000), EINVAL);
    CHECK_ERR(fsrv_kill(&c, 0, SIGTERM), EINVAL);
    CHECK_ERR(fsrv_kill(&c, getpid(), 0), ESRCH); /* not the server's */
    CHECK_ERR(fsrv_kill(&c, 1, 0), ESRCH);
    CHECK_ERR(fsrv_kill(&c, -pid, 0), ESRCH); /* not a group leader */
    CHECK(fsrv_kill(&c, pid, SIGUSR1) == 0);
    CHECK(KILLED(t_wait(&c, pid), SIGUSR1));
    CHECK_ERR(fsrv_kill(&c, pid, SIGKILL), ESRCH);
    fsrv_stop(&c, 0);
}

/* fsrv_kill(-pid) signals the group of an unreaped leader. */
static void test_kill_group(void)
{
    const char *argv[] = { "/bin/sh", "-c", "sleep 100 & echo $!; wait",
                           NULL };
    fsrv_launch_opts o;
    fsrv_fd m;
    fsrv_client c;
    int p[2];
    char buf[32];
    pid_t pid, grand;
    t_start(&c);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    m.parent_fd = p[1];
    m.child_fd = 1;
    memset(&o, 0, sizeof o);
    o.fds = &m;
    o.nfds = 1;
    o.flags = FSRV_SETPGID;
    CHECK((pid = fsrv_launch(&c, (char *const *)argv, NULL, &o)) > 0);
    close(p[1]);
    memset(buf, 0, sizeof buf);
    CHECK(read(p[0], buf, sizeof buf - 1) > 0);
    grand = atoi(buf);
    CHECK(grand > 0 && getpgid(grand) == pid);
    CHECK(fsrv_kill(&c, -pid, SIGKILL) == 0);
    CHECK(KILLED(t_wait(&c, pid), SIGKILL));
    t_sleep_ms(50);
    CHECK(!t_alive(grand));
    CHECK_ERR(fsrv_kill(&c, -pid, SIGKILL), ESRCH);
    fsrv_stop(&c, 0);
}

static void test_reap(void)
{
    const char *argv[] = { "exit", "0", NULL };
    char code[8][8];
    fsrv_exit ex[64];
    pid_t pids[8];
    fsrv_client c;
    int i, j, n = 0, seen = 0;
    t_start(&c);
    CHECK(fsrv_reap(&c, ex, 64) == 0);
    CHECK(fsrv_reap(&c, ex, 0) == 0);
    CHECK_ERR(fsrv_reap(&c, ex, -1), EINVAL);
    CHECK_ERR(fsrv_reap(&c, NULL, 3), EINVAL);
    for (i = 0; i < 8; i++) {
        const char *a[3];
        snprintf(code[i], sizeof code[i], "%d", 10 + i);
        a[0] = argv[0];
        a[1] = code[i];
        a[2] = NULL;
        CHECK((pids[i] = t_run(&c, a, FSRV_ENTRY)) > 0);
    }
    t_sleep_ms(100);
    /* max smaller than what is ready: the rest stays for the next call */
    CHECK(fsrv_reap(&c, ex, 3) == 3);
    n = 3 + fsrv_reap(&c, ex + 3, 64 - 3);
    CHECK(n == 8);
    for (i = 0; i < n; i++)
        for (j = 0; j < 8; j++)
            if (ex[i].pid == pids[j]) {
                CHECK(EXITED(ex[i].status, 10 + j));
                seen |= 1 << j;
            }
    CHECK(seen == 0xff);
    CHECK(fsrv_reap(&c, ex, 64) == 0);
    for (j = 0; j < 8; j++)
        CHECK_ERR(fsrv_kill(&c, pids[j], 0), ESRCH);
    fsrv_stop(&c, 0);
}

/* The notify fd turns readable after an exit, and reads EOF once the
   server is gone. */
static void test_notify_fd(void)
{
    const char *argv[] = { "exit", "0", NULL };
    fsrv_client c;
    struct pollfd p;
    char buf[64];
    pid_t pid;
    t_start(&c);
    p.fd = fsrv_notify_fd(&c);
    p.events = POLLIN;
    CHECK(poll(&p, 1, 0) == 0);
    CHECK((pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK(poll(&p, 1, 5000) == 1);
    while (read(p.fd, buf, sizeof buf) > 0)
        ;
    CHECK(errno == EAGAIN);
    CHECK(t_wait(&c, pid) == 0);
    CHECK(kill(fsrv_server_pid(&c), SIGKILL) == 0);
    CHECK(poll(&p, 1, 5000) == 1);
    CHECK(read(p.fd, buf, sizeof buf) == 0);
    fsrv_stop(&c, 0);
}

/* Under FSRV_SUBREAPER a dead server's children are still waited for,
   killed and reaped through the same calls. */
static void test_subreaper(void)
{
    const char *argv[] = { "sleep", "100", NULL };
    const char *quick[] = { "exit", "4", NULL };
    fsrv_config cfg = { t_entry, NULL, FSRV_SUBREAPER };
    fsrv_exit ex[4];
    fsrv_client c;
    pid_t a, b, q;
    int st;
    CHECK(fsrv_start(&c, &cfg) == 0);
    CHECK((a = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK((b = t_run(&c, argv, FSRV_ENTRY)) > 0);
    CHECK((q = t_run(&c, quick, FSRV_ENTRY)) > 0);
    CHECK(kill(fsrv_server_pid(&c), SIGKILL) == 0);
    CHECK(t_run(&c, argv, FSRV_ENTRY) == -1);
    CHECK(errno == ECONNRESET || errno == EPIPE);
    CHECK(fsrv_waitpid(&c, a, &st, WNOHANG) == 0);
    CHECK(fsrv_kill(&c, a, SIGKILL) == 0);
    CHECK(fsrv_waitpid(&c, a, &st, 0) == a && KILLED(st, SIGKILL));
    CHECK(fsrv_kill(&c, a, SIGKILL) == -1);
    CHECK(errno == ECONNRESET || errno == EPIPE);
    CHECK(fsrv_kill(&c, b, SIGTERM) == 0);
    t_sleep_ms(100);
    CHECK(fsrv_reap(&c, ex, 4) == 2);
    CHECK((ex[0].pid == b && KILLED(ex[0].status, SIGTERM) &&
           ex[1].pid == q && EXITED(ex[1].status, 4)) ||
          (ex[1].pid == b && KILLED(ex[1].status, SIGTERM) &&
           ex[0].pid == q && EXITED(ex[0].status, 4)));
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

/* Many threads share one client. */
struct t_worker { fsrv_client *c; int id, rounds; };

static void *t_worker_fn(void *arg)
{
    struct t_worker *w = (struct t_worker *)arg;
    char code[16];
    const char *argv[] = { "exit", code, NULL };
    int i;
    for (i = 0; i < w->rounds; i++) {
        pid_t pid;
        snprintf(code, sizeof code, "%d", (w->id * 31 + i) % 256);
        CHECK((pid = t_run(w->c, argv, FSRV_ENTRY)) > 0);
        CHECK(EXITED(t_wait(w->c, pid), (w->id * 31 + i) % 256));
    }
    return NULL;
}

static void test_threads(void)
{
    struct t_worker w[8];
    pthread_t th[8];
    fsrv_client c;
    int i;
    t_start(&c);
    for (i = 0; i < 8; i++) {
        w[i].c = &c;
        w[i].id = i;
        w[i].rounds = t_heavy(200);
        CHECK(pthread_create(&th[i], NULL, t_worker_fn, &w[i]) == 0);
    }
    for (i = 0; i < 8; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    fsrv_stop(&c, 0);
}

/* ---- the cases from the field (C01-C15) ---------------------------------- */

static void test_c01_status_kinds(void)
{
    const char *e0[] = { "exit", "0", NULL }, *e255[] = { "exit", "255", NULL };
    char s9[8], s11[8];
    const char *k9[] = { "raise", s9, NULL }, *k11[] = { "raise", s11, NULL };
    const char *sl[] = { "sleep", "100000", NULL };
    const char *x255[] = { "/bin/sh", "-c", "exit 255", NULL };
    const char *xseg[] = { "/bin/sh", "-c", "ulimit -c 0; kill -SEGV $$",
                           NULL };
    fsrv_client c;
    pid_t p[7];
    int st[7], i;
    snprintf(s9, sizeof s9, "%d", SIGKILL);
    snprintf(s11, sizeof s11, "%d", SIGSEGV);
    t_start(&c);
    CHECK((p[0] = t_run(&c, e0, FSRV_ENTRY)) > 0);
    CHECK((p[1] = t_run(&c, e255, FSRV_ENTRY)) > 0);
    CHECK((p[2] = t_run(&c, k9, FSRV_ENTRY)) > 0);
    CHECK((p[3] = t_run(&c, k11, FSRV_ENTRY)) > 0);
    CHECK((p[4] = t_run(&c, sl, FSRV_ENTRY)) > 0);
    CHECK((p[5] = t_run(&c, x255, 0)) > 0);
    CHECK((p[6] = t_run(&c, xseg, 0)) > 0);
    CHECK(fsrv_kill(&c, p[4], SIGTERM) == 0);
    for (i = 0; i < 7; i++)
        st[i] = t_wait(&c, p[i]);
    CHECK(EXITED(st[0], 0) && !WIFSIGNALED(st[0]));
    CHECK(EXITED(st[1], 255) && !WIFSIGNALED(st[1]));
    CHECK(KILLED(st[2], SIGKILL) && !WIFEXITED(st[2]));
    CHECK(KILLED(st[3], SIGSEGV) && !WCOREDUMP(st[3]));
    CHECK(KILLED(st[4], SIGTERM));
    CHECK(EXITED(st[5], 255));
    CHECK(KILLED(st[6], SIGSEGV));
    fsrv_stop(&c, 0);
}

struct t_burst { fsrv_client *c; int id; pid_t pid[25]; int fd[25]; };

static void *t_burst_fn(void *arg)
{
    struct t_burst *b = (struct t_burst *)arg;
    int i;
    for (i = 0; i < 25; i++) {
        char code[8];
        const char *argv[] = { "exit", code, NULL };
        int p[2];
        fsrv_fd m;
        fsrv_launch_opts o;
        snprintf(code, sizeof code, "%d", (b->id * 25 + i) % 256);
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        m.parent_fd = p[1];
        m.child_fd = 1;
        memset(&o, 0, sizeof o);
        o.fds = &m;
        o.nfds = 1;
        o.flags = FSRV_ENTRY;
        CHECK((b->pid[i] = fsrv_launch(b->c, (char *const *)argv, NULL,
                                       &o)) > 0);
        close(p[1]);
        b->fd[i] = p[0];
    }
    for (i = 0; i < 25; i++) {
        CHECK(EXITED(t_wait(b->c, b->pid[i]), (b->id * 25 + i) % 256));
        close(b->fd[i]);
    }
    return NULL;
}

static void test_c02_short_lives_under_load(void)
{
    struct t_burst b[8];
    pthread_t th[8];
    fsrv_client c;
    int round, i, j, k, fds0;
    t_start(&c);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    t_load_cpus();
    for (round = 0; round < t_heavy(20); round++) {
        for (i = 0; i < 8; i++) {
            b[i].c = &c;
            b[i].id = i;
            CHECK(pthread_create(&th[i], NULL, t_burst_fn, &b[i]) == 0);
        }
        for (i = 0; i < 8; i++)
            CHECK(pthread_join(th[i], NULL) == 0);
        for (i = 0; i < 8; i++) /* no pid reported twice */
            for (j = 0; j < 25; j++)
                for (k = j + 1; k < 25; k++)
                    CHECK(b[i].pid[j] != b[i].pid[k]);
        t_zombie_check(&c, fds0);
    }
    fsrv_stop(&c, 0);
}

static void test_c03_grandchild_holds_pipe(void)
{
    const char *argv[] = { "/bin/sh", "-c", "sleep 100 & echo $!; exit 7",
                           NULL };
    fsrv_launch_opts o;
    fsrv_fd m;
    fsrv_client c;
    char buf[32];
    int p[2], st;
    pid_t pid;
    double t0;
    t_start(&c);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    m.parent_fd = p[1];
    m.child_fd = 1;
    memset(&o, 0, sizeof o);
    o.fds = &m;
    o.nfds = 1;
    CHECK((pid = fsrv_launch(&c, (char *const *)argv, NULL, &o)) > 0);
    close(p[1]);
    t0 = t_now();
    CHECK(fsrv_waitpid(&c, pid, &st, 0) == pid);
    CHECK(EXITED(st, 7));
    CHECK(t_now() - t0 < 1.0 * t_slow);
    memset(buf, 0, sizeof buf);
    CHECK(read(p[0], buf, sizeof buf - 1) > 0);
    CHECK(atoi(buf) > 0 && kill(atoi(buf), SIGKILL) == 0);
    fsrv_stop(&c, 0);
}

static void test_c04_instant_exits(void)
{
    enum { N = 10000 };
    static pid_t pids[N];
    const char *argv[] = { "/bin/true", NULL };
    fsrv_client c;
    int i;
    t_start(&c);
    for (i = 0; i < t_heavy(N); i++)
        CHECK((pids[i] = t_run(&c, argv, 0)) > 0);
    for (i = 0; i < t_heavy(N); i++)
        CHECK(EXITED(t_wait(&c, pids[i]), 0));
    t_sync(&c);
    CHECK(t_children(fsrv_server_pid(&c), 0) == 0);
    fsrv_stop(&c, 0);
}

static void test_c05_exit_first(void)
{
    const char *argv[] = { "/bin/true", NULL };
    fsrv_client c;
    double worst = 0;
    int i;
    t_start(&c);
    for (i = 0; i < t_heavy(20000); i++) {
        pid_t pid;
        double t0;
        CHECK((pid = t_run(&c, argv, 0)) > 0);
        t0 = t_now();
        CHECK(EXITED(t_wait(&c, pid), 0));
        if (t_now() - t0 > worst)
            worst = t_now() - t0;
    }
    if (worst >= 1.0 * t_slow)
        fprintf(stderr, "    slowest wait %.3f s\n", worst);
    CHECK(worst < 1.0 * t_slow);
    fsrv_stop(&c, 0);
}

static void test_c06_same_moment(void)
{
    const char *argv[] = { "read0", NULL };
    fsrv_launch_opts o;
    fsrv_fd m;
    fsrv_client c;
    pid_t pids[5];
    int p[2], i;
    t_start(&c);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    m.parent_fd = p[0];
    m.child_fd = 0;
    memset(&o, 0, sizeof o);
    o.fds = &m;
    o.nfds = 1;
    o.flags = FSRV_ENTRY;
    for (i = 0; i < 5; i++)
        CHECK((pids[i] = fsrv_launch(&c, (char *const *)argv, NULL, &o)) > 0);
    close(p[0]);
    t_sleep_ms(20);
    close(p[1]); /* all five see EOF at once */
    for (i = 0; i < 5; i++)
        CHECK(EXITED(t_wait(&c, pids[i]), 3));
    fsrv_stop(&c, 0);
}

static void test_c07_nobody_reads_notify(void)
{
    const char *argv[] = { "exit", "0", NULL };
    fsrv_exit ex[256];
    fsrv_client c;
    struct pollfd p;
    double worst = 0;
    int i, fds0, reaped = 0;
    t_start(&c);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    for (i = 0; i < t_heavy(72000); i++) {
        double t0 = t_now();
        CHECK(t_run(&c, argv, FSRV_ENTRY) > 0);
        if (t_now() - t0 > worst)
            worst = t_now() - t0;
        if (i % 64 == 63)
            reaped += fsrv_reap(&c, ex, 256);
    }
    while (reaped < t_heavy(72000)) {
        int n = fsrv_reap(&c, ex, 256);
        CHECK(n >= 0);
        reaped += n;
        if (!n)
            t_sleep_ms(1);
    }
    if (worst >= 0.1 * t_slow)
        fprintf(stderr, "    slowest launch %.3f s\n", worst);
    CHECK(worst < 0.1 * t_slow);
    p.fd = fsrv_notify_fd(&c);
    p.events = POLLIN;
    CHECK(poll(&p, 1, 0) == 1);
    t_zombie_check(&c, fds0);
    fsrv_stop(&c, 0);
}

struct t_storm { fsrv_client *c; int stop, launched; };

static void *t_storm_launcher(void *arg)
{
    static char var[1 << 20];
    struct t_storm *s = (struct t_storm *)arg;
    const char *argv[] = { "exit", "1", NULL };
    char *envp[17];
    fsrv_launch_opts o;
    int i;
    if (!var[0]) { /* 16 variables of 64 KiB: 1 MiB of environment */
        memset(var, 'e', sizeof var);
        for (i = 0; i < 16; i++)
            memcpy(var + i * 65536, "E=", 2), var[i * 65536 + 65535] = 0;
    }
    for (i = 0; i < 16; i++)
        envp[i] = var + i * 65536;
    envp[16] = NULL;
    memset(&o, 0, sizeof o);
    o.flags = FSRV_ENTRY;
    while (!t_get(&s->stop)) {
        pid_t pid = fsrv_launch(s->c, (char *const *)argv, envp, &o);
        CHECK(pid > 0);
        CHECK(EXITED(t_wait(s->c, pid), 1));
        __atomic_add_fetch(&s->launched, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_c08_signal_storm(void)
{
    const char *argv[] = { "exit", "2", NULL };
    struct t_storm s;
    pthread_t th[4];
    fsrv_client c;
    int i;
    pid_t srv;
    t_start(&c);
    srv = fsrv_server_pid(&c);
    s.c = &c;
    s.launched = 0;
    {   /* fill the big variable once, before the threads share it */
        pthread_t t0;
        t_set(&s.stop, 1);
        CHECK(pthread_create(&t0, NULL, t_storm_launcher, &s) == 0);
        CHECK(pthread_join(t0, NULL) == 0);
        t_set(&s.stop, 0);
    }
    for (i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, t_storm_launcher, &s) == 0);
    for (i = 0; i < t_heavy(1000); i++) {
        pid_t pid = t_run(&c, argv, FSRV_ENTRY);
        CHECK(pid > 0);
        CHECK(kill(srv, SIGCHLD) == 0);
        t_sleep_ms(0);
        CHECK(EXITED(t_wait(&c, pid), 2));
        CHECK(kill(srv, SIGCHLD) == 0);
    }
    { /* and a pure storm at about 10 kHz while the launchers go on */
        double t0 = t_now();
        while (t_now() - t0 < 0.5) {
            struct timespec ts = { 0, 100000 };
            CHECK(kill(srv, SIGCHLD) == 0);
            nanosleep(&ts, NULL);
        }
    }
    t_set(&s.stop, 1);
    for (i = 0; i < 4; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    CHECK(t_get(&s.launched) > 0);
    fsrv_stop(&c, 0);
}

/* Runs `strace -f -e trace=kill` on the server around fn. */
static int t_traced_kills(pid_t server, void (*fn)(void *), void *arg)
{
    char out[PATH_MAX + 32], cmd[PATH_MAX * 2], line[512];
    FILE *f;
    pid_t tr;
    int n = 0;
    if (system("strace -V >/dev/null 2>&1") != 0)
        t_skip("strace is not installed");
    snprintf(out, sizeof out, "%s/strace.out", t_dir);
    snprintf(cmd, sizeof cmd, "%d", (int)server);
    tr = fork();
    CHECK(tr >= 0);
    if (tr == 0) {
        execlp("strace", "strace", "-qq", "-e", "trace=kill,tgkill", "-o",
               out, "-p", cmd, (char *)NULL);
        _exit(127);
    }
    t_sleep_ms(300); /* let it attach */
    fn(arg);
    t_sleep_ms(100);
    kill(tr, SIGINT);
    CHECK(waitpid(tr, NULL, 0) == tr);
    if (!(f = fopen(out, "r")))
        t_skip("strace could not attach (ptrace not permitted here)");
    while (fgets(line, sizeof line, f))
        n += strstr(line, "kill(") != NULL;
    fclose(f);
    return n;
}

struct t_c09 { fsrv_client *c; pid_t pid; };

static void t_c09_kill_after_wait(void *arg)
{
    struct t_c09 *a = (struct t_c09 *)arg;
    CHECK_ERR(fsrv_kill(a->c, a->pid, SIGKILL), ESRCH);
    CHECK_ERR(fsrv_kill(a->c, -a->pid, SIGKILL), ESRCH);
}

static char t_c09_big[64 * 1024];

static void *t_c09_big_launcher(void *arg)
{
    fsrv_client *c = (fsrv_client *)arg;
    const char *argv[] = { "/bin/sh", "-c", "echo ${#1}", "sh", t_c09_big,
                           NULL };
    char want[16];
    int i, st, p[2];
    fsrv_fd m;
    fsrv_launch_opts o;
    for (i = 0; i < 20; i++) {
        pid_t pid;
        ssize_t n;
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        m.parent_fd = p[1];
        m.child_fd = 1;
        memset(&o, 0, sizeof o);
        o.fds = &m;
        o.nfds = 1;
        CHECK((pid = fsrv_launch(c, (char *const *)argv, NULL, &o)) > 0);
        close(p[1]);
        memset(want, 0, sizeof want);
        n = read(p[0], want, sizeof want - 1);
        close(p[0]);
        CHECK(n > 0 && atoi(want) == (int)sizeof t_c09_big - 1);
        st = t_wait(c, pid);
        CHECK(EXITED(st, 0));
    }
    return NULL;
}

static void test_c09_kill_around_exit(void)
{
    const char *argv[] = { "exit", "0", NULL };
    struct t_c09 a;
    fsrv_client c;
    pthread_t th[8];
    int i, r;
    t_start(&c);
    /* (a) exited, not yet reaped: the kill is harmless, status unchanged */
    CHECK((a.pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
    t_sleep_ms(50);
    r = fsrv_kill(&c, a.pid, SIGKILL);
    CHECK(r == 0 || errno == ESRCH);
    CHECK(EXITED(t_wait(&c, a.pid), 0));
    /* (b) after the wait: ESRCH, and the server makes no kill(2) call */
    a.c = &c;
    CHECK(t_traced_kills(fsrv_server_pid(&c), t_c09_kill_after_wait, &a) ==
          0);
    /* (c) 8 threads with 64 KiB of argv each: no message mixed */
    memset(t_c09_big, 'b', sizeof t_c09_big - 1);
    for (i = 0; i < 8; i++)
        CHECK(pthread_create(&th[i], NULL, t_c09_big_launcher, &c) == 0);
    for (i = 0; i < 8; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    fsrv_stop(&c, 0);
}

static void test_c10_kill_then_look(void)
{
    const char *argv[] = { "sleep", "100000", NULL };
    const char *stubborn[] = { "/bin/sh", "-c",
        "trap '' TERM; echo ready; while :; do sleep 1; done", NULL };
    fsrv_client c;
    fsrv_launch_opts o;
    fsrv_fd m;
    int i, fds0, p[2], st;
    char buf[8];
    pid_t pid;
    t_start(&c);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    for (i = 0; i < t_heavy(1000); i++) {
        pid_t r;
        CHECK((pid = t_run(&c, argv, FSRV_ENTRY)) > 0);
        CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
        r = fsrv_waitpid(&c, pid, &st, WNOHANG);
        CHECK(r == 0 || (r == pid && KILLED(st, SIGKILL)));
        if (r == 0)
            CHECK(KILLED(t_wait(&c, pid), SIGKILL));
    }
    t_zombie_check(&c, fds0);
    /* A child that ignores SIGTERM is not reported dead after SIGTERM. */
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    m.parent_fd = p[1];
    m.child_fd = 1;
    memset(&o, 0, sizeof o);
    o.fds = &m;
    o.nfds = 1;
    CHECK((pid = fsrv_launch(&c, (char *const *)stubborn, NULL, &o)) > 0);
    close(p[1]);
    CHECK(read(p[0], buf, 6) == 6);
    CHECK(fsrv_kill(&c, pid, SIGTERM) == 0);
    t_sleep_ms(200);
    CHECK(fsrv_waitpid(&c, pid, &st, WNOHANG) == 0);
    CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
    CHECK(KILLED(t_wait(&c, pid), SIGKILL));
    close(p[0]);
    fsrv_stop(&c, 0);
}

static void test_c11_server_killed(void)
{
    const char *argv[] = { "/bin/sleep", "30", NULL };
    fsrv_config sub = { t_entry, NULL, FSRV_SUBREAPER };
    struct pollfd p;
    fsrv_client c;
    char b;
    int round, st;
    signal(SIGPIPE, SIG_DFL);
    for (round = 0; round < 2; round++) {
        pid_t pid;
        double t0;
        CHECK(fsrv_start(&c, round ? &sub : &t_cfg) == 0);
        CHECK((pid = t_run(&c, argv, 0)) > 0);
        CHECK(kill(fsrv_server_pid(&c), SIGKILL) == 0);
        t0 = t_now();
        errno = 0;
        CHECK(t_run(&c, argv, 0) == -1);
        CHECK(errno == ECONNRESET || errno == EPIPE);
        if (round == 0) {
            errno = 0;
            CHECK(fsrv_waitpid(&c, pid, &st, 0) == -1);
            CHECK(errno == ECONNRESET || errno == EPIPE);
            kill(pid, SIGKILL); /* an orphan of init's now, not ours */
        } else {
            CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
            CHECK(fsrv_waitpid(&c, pid, &st, 0) == pid && KILLED(st, 9));
        }
        p.fd = fsrv_notify_fd(&c);
        p.events = POLLIN;
        CHECK(poll(&p, 1, 1000) == 1);
        while (read(p.fd, &b, 1) > 0)
            ;
        CHECK(read(p.fd, &b, 1) == 0);
        CHECK(t_now() - t0 < 1.0 * t_slow);
        fsrv_stop(&c, 0);
    }
}

static void test_c12_stop(void)
{
    const char *argv[] = { "/bin/sleep", "30", NULL };
    fsrv_client c;
    pid_t s, pid;
    double t0;
    t_start(&c);
    s = fsrv_server_pid(&c);
    t0 = t_now();
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(t_now() - t0 < 1.0 * t_slow && t_stat(s, NULL) == 0);
    t_start(&c);
    s = fsrv_server_pid(&c);
    CHECK((pid = t_run(&c, argv, 0)) > 0);
    t0 = t_now();
    CHECK(fsrv_stop(&c, SIGTERM) == 0);
    CHECK(t_now() - t0 < 1.0 * t_slow && t_stat(s, NULL) == 0);
    t_sleep_ms(100);
    CHECK(!t_alive(pid));
}

static void test_c13_nobody_waits(void)
{
    const char *argv[] = { "/bin/sleep", "0.2", NULL };
    fsrv_config sub = { t_entry, NULL, FSRV_SUBREAPER };
    fsrv_client c;
    pid_t pids[2][10];
    int round, i;
    for (round = 0; round < 2; round++) {
        CHECK(fsrv_start(&c, round ? &sub : &t_cfg) == 0);
        for (i = 0; i < 10; i++)
            CHECK((pids[round][i] = t_run(&c, argv, 0)) > 0);
        CHECK(fsrv_stop(&c, 0) == 0);
    }
    t_sleep_ms(1000);
    /* Under FSRV_SUBREAPER they fell to us: we reap them. */
    for (i = 0; i < 10; i++) {
        int st;
        CHECK(waitpid(pids[1][i], &st, WNOHANG) == pids[1][i]);
        CHECK(EXITED(st, 0));
    }
    for (round = 0; round < 2; round++)
        for (i = 0; i < 10; i++)
            CHECK(t_stat(pids[round][i], NULL) == 0);
}

static void test_c14_child_inherits_nothing(void)
{
    const char *sleeper[] = { "sleep", "100000", NULL };
    const char *lister[] = { t_exe, "--list-fds", NULL };
    fsrv_launch_opts o;
    fsrv_fd m[2];
    fsrv_client c;
    pid_t pids[64];
    int p[64][2], q[2], i, fds0, st;
    char want[32], buf[256];
    ssize_t n;
    t_start(&c);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    for (i = 0; i < 64; i++) {
        CHECK(pipe2(p[i], O_CLOEXEC) == 0);
        m[0].parent_fd = p[i][0];
        m[0].child_fd = 0;
        memset(&o, 0, sizeof o);
        o.fds = m;
        o.nfds = 1;
        o.flags = FSRV_ENTRY;
        CHECK((pids[i] = fsrv_launch(&c, (char *const *)sleeper, NULL,
                                     &o)) > 0);
    }
    /* exec'd, and an entry child, with one extra mapped fd at 7 */
    CHECK(pipe2(q, O_CLOEXEC) == 0);
    m[0].parent_fd = q[1];
    m[0].child_fd = 1;
    m[1].parent_fd = q[1];
    m[1].child_fd = 7;
    memset(&o, 0, sizeof o);
    o.fds = m;
    o.nfds = 2;
    CHECK((pids[0] == pids[0]) && fsrv_launch(&c, (char *const *)lister,
                                              NULL, &o) > 0);
    close(q[1]);
    n = read(q[0], buf, sizeof buf - 1);
    CHECK(n > 0);
    buf[n] = 0;
    snprintf(want, sizeof want, "0 1 2 7 ");
    if (strcmp(buf, want)) {
        fprintf(stderr, "    child fds: %s\n", buf);
        CHECK(!"only 0, 1, 2 and 7");
    }
    close(q[0]);
    CHECK(fsrv_reap(&c, NULL, 0) == 0);
    for (i = 0; i < 64; i++) {
        CHECK(fsrv_kill(&c, pids[i], SIGKILL) == 0);
        CHECK(KILLED(t_wait(&c, pids[i]), SIGKILL));
        close(p[i][0]);
        close(p[i][1]);
    }
    while (fsrv_reap(&c, (fsrv_exit *)buf, 1) > 0)
        ;
    t_zombie_check(&c, fds0);
    (void)st;
    fsrv_stop(&c, 0);
}

static void test_c15_child_signals(void)
{
    const char *yes[] = { "yes", NULL };
    const char *st_argv[] = { "/bin/sh", "-c",
        "grep -E '^Sig(Ign|Blk)' /proc/self/status", NULL };
    fsrv_launch_opts o;
    fsrv_fd m;
    fsrv_client c;
    int p[2], st;
    char *out;
    pid_t pid;
    double t0;
    signal(SIGPIPE, SIG_IGN);
    t_start(&c);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    m.parent_fd = p[1];
    m.child_fd = 1;
    memset(&o, 0, sizeof o);
    o.fds = &m;
    o.nfds = 1;
    o.flags = FSRV_SEARCH_PATH;
    CHECK((pid = fsrv_launch(&c, (char *const *)yes, NULL, &o)) > 0);
    close(p[1]);
    close(p[0]);
    t0 = t_now();
    CHECK(KILLED(t_wait(&c, pid), SIGPIPE));
    CHECK(t_now() - t0 < 1.0 * t_slow);
    out = t_output(&c, st_argv, NULL, 0, NULL, &st);
    t_check_clean_signals(out);
    fsrv_stop(&c, 0);
}

/* ---- further groups: faults, drop-in, benchmark -------------------------- */

#include "t_faults.inc"
#include "t_dropin.inc"
#include "t_bench.inc"

/* ---- the runner ---------------------------------------------------------- */

struct t_test { const char *name; void (*fn)(void); int timeout; };

static const struct t_test t_tests[] = {
    { "start_stop", test_start_stop, 10 },
    { "start_bad_args", test_start_bad_args, 10 },
    { "server_drops_caller_fds", test_server_drops_caller_fds, 10 },
    { "server_ignores_tty_signals", test_server_ignores_tty_signals, 10 },
    { "hostile_parent_signals", test_hostile_parent_signals, 10 },
    { "start_from_thread", test_start_from_thread, 10 },
    { "stdio_not_repeated", test_stdio_not_repeated, 10 },
    { "launch_exec", test_launch_exec, 10 },
    { "launch_env", test_launch_env, 10 },
    { "launch_search_path", test_launch_search_path, 10 },
    { "launch_cwd", test_launch_cwd, 10 },
    { "launch_errors", test_launch_errors, 10 },
    { "launch_fd_mapping", test_launch_fd_mapping, 10 },
    { "launch_inherit_fds", test_launch_inherit_fds, 10 },
    { "launch_entry", test_launch_entry, 10 },
    { "launch_sessions", test_launch_sessions, 10 },
    { "launch_big", test_launch_big, 20 },
    { "launch_pidfd", test_launch_pidfd, 10 },
    { "waitpid", test_waitpid, 10 },
    { "waitpid_stopped", test_waitpid_stopped, 10 },
    { "waitpid_blocks_one_thread", test_waitpid_blocks_one_thread, 20 },
    { "wait_races_reap", test_wait_races_reap, 10 },
    { "kill", test_kill, 10 },
    { "kill_group", test_kill_group, 10 },
    { "reap", test_reap, 10 },
    { "notify_fd", test_notify_fd, 10 },
    { "subreaper", test_subreaper, 10 },
    { "threads", test_threads, 30 },
    { "c01_status_kinds", test_c01_status_kinds, 10 },
    { "c02_short_lives_under_load", test_c02_short_lives_under_load, 120 },
    { "c03_grandchild_holds_pipe", test_c03_grandchild_holds_pipe, 10 },
    { "c04_instant_exits", test_c04_instant_exits, 120 },
    { "c05_exit_first", test_c05_exit_first, 180 },
    { "c06_same_moment", test_c06_same_moment, 10 },
    { "c07_nobody_reads_notify", test_c07_nobody_reads_notify, 180 },
    { "c08_signal_storm", test_c08_signal_storm, 120 },
    { "c09_kill_around_exit", test_c09_kill_around_exit, 60 },
    { "c10_kill_then_look", test_c10_kill_then_look, 60 },
    { "c11_server_killed", test_c11_server_killed, 10 },
    { "c12_stop", test_c12_stop, 10 },
    { "c13_nobody_waits", test_c13_nobody_waits, 10 },
    { "c14_child_inherits_nothing", test_c14_child_inherits_nothing, 20 },
    { "c15_child_signals", test_c15_child_signals, 10 },
    T_FAULT_TESTS
    T_DROPIN_TESTS
};

#define T_NTESTS (sizeof t_tests / sizeof *t_tests)

/* Runs one test in a child of its own, in its own process group, under a
   timeout scaled by FSRV_TEST_SLOW (sanitizers and valgrind are slower).
   Returns 0 pass, 1 fail, 2 skip. */
static int t_run_one(const struct t_test *t, double slow)
{
    double t0 = t_now(), limit = t->timeout * slow;
    int st = 0, r;
    char tmpl[] = "/tmp/fsrv-test-XXXXXX";
    pid_t pid;
    fflush(NULL);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    pid = fork();
    if (pid == 0) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        /* Whatever fds started the suite are not the test's to pass on. */
        while (d && (e = readdir(d)))
            if (atoi(e->d_name) > 2)
                fcntl(atoi(e->d_name), F_SETFD, FD_CLOEXEC);
        if (d)
            closedir(d);
        setpgid(0, 0);
        snprintf(t_dir, sizeof t_dir, "%s", tmpl);
        t->fn();
        fflush(NULL);
        _exit(0);
    }
    setpgid(pid, pid);
    /* Reap as we go: orphans of the test fall to us (a subreaper) and must
       not stay zombies while it runs. */
    for (r = 0; !r && t_now() - t0 < limit;) {
        int s2;
        pid_t w = waitpid(-1, &s2, WNOHANG);
        if (w == pid) {
            st = s2;
            r = 1;
        } else if (w <= 0) {
            t_sleep_ms(5);
        }
    }
    if (r == 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        printf("FAIL %s: timed out after %.0f s\n", t->name, limit);
    }
    /* Whatever the test left behind in its group goes too; orphans come to
       us (we are a subreaper) and are reaped here. */
    kill(-pid, SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpl);
    }
    if (r == 0)
        return 1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        printf("skip %s\n", t->name);
        return 2;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok   %s (%.2f s)\n", t->name, t_now() - t0);
        return 0;
    }
    if (WIFSIGNALED(st))
        printf("FAIL %s: killed by signal %d\n", t->name, WTERMSIG(st));
    else
        printf("FAIL %s: exit %d\n", t->name, WEXITSTATUS(st));
    return 1;
}

#ifndef FSRV_FUZZ
int main(int argc, char **argv)
{
    int counts[3] = { 0, 0, 0 }, i, ran = 0;
    const char *slow = getenv("FSRV_TEST_SLOW");
    ssize_t n = readlink("/proc/self/exe", t_exe, sizeof t_exe - 1);
    if (n > 0)
        t_exe[n] = 0;
    if (argc > 1 && !strcmp(argv[1], "--list-fds"))
        return t_mode_list_fds();
    if (argc > 1 && !strcmp(argv[1], "--serve"))
        return t_mode_serve(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        return bench_main();
    if (argc > 1 && !strcmp(argv[1], "--list")) {
        for (i = 0; i < (int)T_NTESTS; i++)
            printf("%s\n", t_tests[i].name);
        return 0;
    }
    if (slow && atof(slow) >= 1.0)
        t_slow = atof(slow);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 0; i < (int)T_NTESTS; i++) {
        int j, want = argc < 2;
        for (j = 1; j < argc; j++)
            want |= !strcmp(argv[j], t_tests[i].name);
        if (!want)
            continue;
        counts[t_run_one(&t_tests[i], t_slow)]++;
        ran++;
    }
    if (argc > 1 && ran != argc - 1)
        fprintf(stderr, "some named tests do not exist (see --list)\n");
    printf("%d passed, %d failed", counts[0], counts[1]);
    if (counts[2])
        printf(", %d skipped", counts[2]);
    printf("\n");
    return counts[1] || (argc > 1 && ran != argc - 1) ? 1 : 0;
}
#endif /* FSRV_FUZZ */

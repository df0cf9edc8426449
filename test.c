/* test.c - the test suite, benchmark and helper modes of forkserver.h.

   cc -pthread test.c -o test && ./test       run every test
   ./test NAME...                             run the named tests
   ./test --list                              list the tests
   ./test --bench                             the benchmark table
   FSRV_TEST_EXECD=1 ./test                   the suite against a server
                                              exec'd as its own program
   make fuzz                                  the libFuzzer target below

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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- checks --------------------------------------------------------------- */

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

/* With one free fd, the launch's own cwd fd takes it, and the pidfd of the
   reply finds none: the launch must still return its pid (and -1 for the
   pidfd), never hang or leave an unknown child. */
static void test_launch_pidfd_no_free_fd(void)
{
    const char *argv[] = { "exit", "6", NULL };
    struct rlimit rl = { 64, 64 };
    fsrv_launch_opts o;
    fsrv_client c;
    int pidfd = -2, fd, last = -1;
    pid_t pid;
    t_start(&c);
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        last = fd;
    CHECK(last >= 0 && close(last) == 0);
    memset(&o, 0, sizeof o);
    o.flags = FSRV_ENTRY;
    o.pidfd = &pidfd;
    CHECK((pid = fsrv_launch(&c, (char *const *)argv, NULL, &o)) > 0);
    CHECK(pidfd == -1);
    CHECK(EXITED(t_wait(&c, pid), 6));
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

/* C07.  A handler that blocked on a full pipe would stall every launch
   from then on, the last thousand too.  A VM may still lose the CPU for
   a moment: up to 3 single launches may take longer than 100 ms, none a
   second. */
static void test_c07_nobody_reads_notify(void)
{
    const char *argv[] = { "exit", "0", NULL };
    int n = t_heavy(72000), i, fds0, reaped = 0, slow = 0, unread = 0;
    fsrv_exit ex[256];
    fsrv_client c;
    double worst = 0, worst_full = 0;
    t_start(&c);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    for (i = 0; i < n; i++) {
        double t0 = t_now(), dt;
        CHECK(t_run(&c, argv, FSRV_ENTRY) > 0);
        dt = t_now() - t0;
        worst = dt > worst ? dt : worst;
        slow += dt >= 0.1 * t_slow;
        if (i >= n - 1000 && dt > worst_full)
            worst_full = dt;
        if (i % 64 == 63)
            reaped += fsrv_reap(&c, ex, 256);
    }
    while (reaped < n) {
        int k = fsrv_reap(&c, ex, 256);
        CHECK(k >= 0);
        reaped += k;
        if (!k)
            t_sleep_ms(1);
    }
    if (slow || worst_full >= 0.1 * t_slow)
        fprintf(stderr, "    %d launches over 100 ms, slowest %.3f s; of "
                "the last 1000, %.3f s\n", slow, worst, worst_full);
    CHECK(slow <= 3 && worst < 1.0 * t_slow && worst_full < 0.1 * t_slow);
    /* Nobody read it, and a byte is still there.  SIGCHLDs that arrive
       together run the handler once, so there are fewer bytes than exits:
       top the pipe up with SIGCHLDs of our own until it is full, then the
       server must still launch without delay. */
    CHECK(ioctl(fsrv_notify_fd(&c), FIONREAD, &unread) == 0 && unread > 0);
    for (i = 0; unread < 65536 && i < 1000000; i++) {
        CHECK(kill(fsrv_server_pid(&c), SIGCHLD) == 0);
        if (i % 256 == 255)
            CHECK(ioctl(fsrv_notify_fd(&c), FIONREAD, &unread) == 0);
    }
    CHECK(unread >= 65536);
    for (i = 0, worst = 0; i < 1000; i++) {
        double t0 = t_now();
        pid_t pid = t_run(&c, argv, FSRV_ENTRY);
        CHECK(pid > 0 && EXITED(t_wait(&c, pid), 0));
        worst = t_now() - t0 > worst ? t_now() - t0 : worst;
    }
    if (worst >= 0.1 * t_slow)
        fprintf(stderr, "    full pipe: slowest launch %.3f s\n", worst);
    CHECK(worst < 0.1 * t_slow);
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

/* ---- faults, hostile input and sanitizers -------------------------------- */

/* Everything here attacks only processes, sockets, pipes and files that the
   tests set up themselves.  Names start with tf_ to keep clear of test.c's.

   FSRV_TEST_SLOW (t_slow) is 4 under ASan, 6 under TSan and 20 under
   valgrind.  A loop whose length only buys confidence is divided by it
   there (tf_scaled), so that the slow builds stay within the suite's
   budget; the plain builds always run the full counts the issue names. */

static int tf_scaled(int n, int least)
{
    int k = (int)(n / t_slow);
    return k < least ? least : k;
}

/* Knuth's 64-bit LCG, high half.  Fixed seeds: every run sends the same
   bytes and kills at the same moments, so a failure can be replayed. */
static uint32_t tf_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 32);
}

static uint32_t tf_below(uint64_t *s, uint32_t n)
{
    return n ? tf_rand(s) % n : 0;
}

static int tf_gone(int e)
{
    return e == ECONNRESET || e == EPIPE;
}

static void tf_write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads fd to EOF into buf (NUL-terminated); returns the length. */
static size_t tf_read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap &&
           ((r = read(fd, buf + n, cap - 1 - n)) > 0 ||
            (r < 0 && errno == EINTR)))
        if (r > 0)
            n += (size_t)r;
    buf[n] = 0;
    return n;
}

/* Is fd one of the program's own?  Under valgrind each process also holds
   valgrind's fds, above the RLIMIT_NOFILE it shows the program. */
static int tf_program_fd(int fd)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
           rl.rlim_cur == RLIM_INFINITY || (rlim_t)fd < rl.rlim_cur;
}

/* Entry modes of this group, on top of t_entry's:
   "fds K..."  to fd 1: "fd N DEV INO" for every open fd, then "probe K E"
               for a one-byte write to each number K (E is its errno, 0 if
               the write went through). */
static int tf_entry(int argc, char **argv, void *arg)
{
    char line[128];
    DIR *d;
    struct dirent *e;
    int i;
    if (strcmp(argv[0], "fds") != 0)
        return t_entry(argc, argv, arg);
    if (!(d = opendir("/proc/self/fd")))
        return 1;
    while ((e = readdir(d))) {
        struct stat st;
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d) || !tf_program_fd(fd))
            continue;
        if (fstat(fd, &st) < 0)
            memset(&st, 0, sizeof st);
        snprintf(line, sizeof line, "fd %d %llu %llu\n", fd,
                 (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino);
        tf_write_all(1, line);
    }
    closedir(d);
    for (i = 1; i < argc; i++) {
        int k = atoi(argv[i]), err;
        if (argv[i][0] < '0' || argv[i][0] > '9')
            continue; /* padding */
        err = write(k, "x", 1) < 0 ? errno : 0;
        snprintf(line, sizeof line, "probe %d %d\n", k, err);
        tf_write_all(1, line);
    }
    return 0;
}

static fsrv_config tf_cfg = { tf_entry, NULL, 0 };

/* Sends one datagram with fds as SCM_RIGHTS, in two control messages if
   `split`.  sendmsg's result. */
static ssize_t tf_send(int sock, const void *buf, size_t len, const int *fds,
                       int nfds, int split)
{
    union {
        char b[2 * CMSG_SPACE(256 * sizeof(int))];
        struct cmsghdr align;
    } cb;
    struct msghdr m;
    struct iovec iov;
    ssize_t r;
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (nfds > 0) {
        struct cmsghdr *cm;
        size_t a = (size_t)(split && nfds > 1 ? nfds / 2 : nfds);
        size_t b = (size_t)nfds - a;
        memset(&cb, 0, sizeof cb);
        m.msg_control = cb.b;
        m.msg_controllen = CMSG_SPACE(a * sizeof(int)) +
                           (b ? CMSG_SPACE(b * sizeof(int)) : 0);
        cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(a * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, a * sizeof(int));
        if (b) {
            cm = CMSG_NXTHDR(&m, cm);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(b * sizeof(int));
            memcpy(CMSG_DATA(cm), fds + a, b * sizeof(int));
        }
    }
    /* The system call itself: musl's sendmsg refuses more than 1024 bytes
       of control data (it copies them to fix up the padding), and 253
       fds take 1032.  The structs are zeroed, so their padding is too. */
    while ((r = (ssize_t)syscall(SYS_sendmsg, sock, &m, MSG_NOSIGNAL)) < 0 &&
           errno == EINTR)
        ;
    return r;
}

/* Receives one datagram within `ms`: its length, or -1 with errno
   (ETIMEDOUT when nothing came).  Any fds that came with it are counted in
   *nfds and closed; *mflags gets msg_flags. */
static ssize_t tf_recv(int sock, void *buf, size_t cap, int *nfds,
                       int *mflags, int ms)
{
    union {
        char b[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } cb;
    struct pollfd p;
    struct msghdr m;
    struct iovec iov;
    struct cmsghdr *cm;
    ssize_t r;
    p.fd = sock;
    p.events = POLLIN;
    p.revents = 0;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    if (r == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    iov.iov_base = buf;
    iov.iov_len = cap;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cb.b;
    m.msg_controllen = sizeof cb.b;
    while ((r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)) < 0 &&
           errno == EINTR)
        ;
    *nfds = 0;
    *mflags = r < 0 ? 0 : m.msg_flags;
    if (r < 0)
        return -1;
    for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        size_t i, k;
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            close(fd);
            ++*nfds;
        }
    }
    return r;
}

static int tf_memfd(const void *data, size_t len)
{
    int fd = memfd_create("tf", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(len == 0 || write(fd, data, len) == (ssize_t)len);
    return fd;
}

/* ---- fault_hostile_datagrams --------------------------------------------- */

/* 4000 datagrams from a fixed seed, written straight onto the client's
   channel at a live server, in 25 categories: empty, short, unknown types
   (a reply's among them), wrong lengths, oversized, 253 fds, fds on
   messages that take none, fds in two control messages, and launches that
   are cut short, claim too many fds, carry more or fewer fds than they
   say, map onto bad numbers, have a body_len, body fd or body that does
   not fit, or whose setup step fails in the child; a well-formed launch
   with random bytes changed; random bytes.  Each must get exactly one
   reply, read here off the channel: its type | 0x80, its seq, res -1 and
   the errno its category calls for (a valid REAP among them: res 0).
   Every fd that went along must be closed by then, by the server and any
   child it made: a pipe's write end travels with each and its read end
   must see EOF; and the server's fd count must be back where it was.
   The server has no entry function, so nothing here can start a program;
   signals that could reach somebody else's process are 0. */

#define TF_ANY (-1) /* in an errno list: whatever errno, as long as > 0 */

/* One hostile datagram: its bytes are in tf_dg_buf. */
struct tf_dg {
    size_t len;
    int fds[260], nfds, split;
    int own[4], nown;  /* fds made for this datagram, closed after it */
    int probe;         /* read end of a pipe whose write end travels */
    int errs[4];       /* errnos the error reply may carry, 0-ended */
    int32_t ok;        /* -1: an error reply; else a valid request's res */
    const char *what;
};

static char tf_dg_buf[160 * 1024];
static char tf_dg_body[8192];

/* fds of every kind to send along, opened once */
struct tf_pool { int null, dir, sock, file, pipe_r; };

static void tf_dg_add(struct tf_dg *d, int fd)
{
    CHECK(d->nfds < (int)(sizeof d->fds / sizeof *d->fds));
    d->fds[d->nfds++] = fd;
}

static void tf_dg_own(struct tf_dg *d, int fd)
{
    d->own[d->nown++] = fd;
}

/* Adds the write end of a fresh pipe: once the reply is in and our copy is
   closed, its read end must see EOF, or somebody (the server, or a child
   of it) kept the fd. */
static void tf_dg_probe(struct tf_dg *d)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    d->probe = p[0];
    tf_dg_own(d, p[1]);
    tf_dg_add(d, p[1]);
}

/* A probe and k fds of the pool, of random kinds. */
static void tf_dg_some_fds(struct tf_dg *d, const struct tf_pool *pool,
                           uint64_t *rng, int k)
{
    tf_dg_probe(d);
    while (k-- > 0) {
        int kinds[5];
        kinds[0] = pool->null;
        kinds[1] = pool->dir;
        kinds[2] = pool->sock;
        kinds[3] = pool->file;
        kinds[4] = pool->pipe_r;
        tf_dg_add(d, kinds[tf_below(rng, 5)]);
    }
}

static void tf_dg_errs(struct tf_dg *d, int a, int b)
{
    d->errs[0] = a;
    d->errs[1] = b;
    d->errs[2] = 0;
}

static void tf_dg_hdr(uint32_t type, uint32_t seq)
{
    memcpy(tf_dg_buf, &type, 4);
    memcpy(tf_dg_buf + 4, &seq, 4);
}

static void tf_dg_random(uint64_t *rng, size_t from, size_t to)
{
    for (; from < to; from++)
        tf_dg_buf[from] = (char)tf_rand(rng);
}

/* A body: nslot zeroed slots, then the strings, each with its NUL. */
static size_t tf_body(char *body, uint32_t nslot, const char *const *s,
                      int ns)
{
    size_t at = nslot * sizeof(char *);
    int i;
    memset(body, 0, at);
    for (i = 0; i < ns; i++) {
        size_t l = strlen(s[i]) + 1;
        memcpy(body + at, s[i], l);
        at += l;
    }
    return at;
}

/* Lays out a LAUNCH in tf_dg_buf: header, child fd numbers, padding, and
   the body if inline.  Returns the datagram's length. */
static size_t tf_launch(uint32_t seq, uint32_t flags, const int32_t *dst,
                        uint32_t nmap, uint32_t argc, uint32_t envc,
                        const char *body, size_t body_len, int inline_body)
{
    fsrv__launch_msg *m = (fsrv__launch_msg *)(void *)tf_dg_buf;
    size_t off = fsrv__body_off(nmap);
    memset(tf_dg_buf, 0, off);
    m->h.type = FSRV__LAUNCH;
    m->h.seq = seq;
    m->flags = flags | (inline_body ? 0 : FSRV__W_BODYFD);
    m->nfds = nmap;
    m->argc = argc;
    m->envc = envc;
    m->body_len = (uint32_t)body_len;
    memcpy(m + 1, dst, (size_t)nmap * 4);
    if (!inline_body)
        return off;
    memcpy(tf_dg_buf + off, body, body_len);
    return off + body_len;
}

/* The body of a well-formed launch of a program that does not exist: env
   A=1, argv "/nonexistent-fsrv/x a".  flags FSRV__W_ENV, argc 2, envc 1. */
static size_t tf_good_body(char *body)
{
    static const char *const s[] = { "/nonexistent-fsrv/x", "a", "A=1" };
    return tf_body(body, 5, s, 3);
}

enum {
    TFC_EMPTY, TFC_SHORT, TFC_UNKNOWN, TFC_WRONG_LEN, TFC_FDS_ON_SIMPLE,
    TFC_HELLO, TFC_WAIT, TFC_KILL, TFC_REAP, TFC_OVERSIZED, TFC_MANY_FDS,
    TFC_SPLIT, TFC_L_SHORT, TFC_L_NFDS, TFC_L_OFF, TFC_L_FLAGS, TFC_L_COUNT,
    TFC_L_DST, TFC_L_INLINE_LEN, TFC_L_BODYFD, TFC_L_PARSE, TFC_L_SPAWN,
    TFC_L_MAXFDS, TFC_L_MUTATE, TFC_RANDOM, TFC_N
};

/* Builds a datagram of category `cat` into d and tf_dg_buf. */
static void tf_dg_make(struct tf_dg *d, int cat, uint64_t *rng, uint32_t seq,
                       const struct tf_pool *pool, pid_t server)
{
    static const uint32_t simple[] = { FSRV__HELLO, FSRV__WAIT, FSRV__KILL,
                                       FSRV__REAP, FSRV__STOP };
    static const size_t want[] = { sizeof(fsrv__hello),
                                   sizeof(fsrv__pid_msg),
                                   sizeof(fsrv__pid_msg),
                                   sizeof(fsrv__reap_msg),
                                   sizeof(fsrv__hdr) };
    int32_t dst[256];
    size_t blen;
    uint32_t k, v;
    int i;
    memset(d, 0, sizeof *d);
    d->probe = -1;
    d->ok = -1;
    tf_dg_errs(d, EPROTO, 0);
    switch (cat) {
    case TFC_EMPTY: /* reads as type 0, seq 0 */
        d->what = "empty";
        if (tf_below(rng, 2))
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 3));
        break;
    case TFC_SHORT:
        d->what = "shorter than a header";
        d->len = 1 + tf_below(rng, 7);
        tf_dg_random(rng, 0, d->len);
        if (tf_below(rng, 2))
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 3));
        break;
    case TFC_UNKNOWN: {
        uint32_t t;
        d->what = "unknown type";
        switch (tf_below(rng, 4)) {
        case 0: t = 0; break;
        case 1: t = 7 + tf_below(rng, 0x79); break;
        case 2: t = FSRV__REPLY + tf_below(rng, 8); break; /* a reply's */
        default:
            do
                t = tf_rand(rng);
            while (t <= FSRV__STOP);
        }
        d->len = 8 + tf_below(rng, 600);
        tf_dg_random(rng, 8, d->len);
        tf_dg_hdr(t, seq);
        if (tf_below(rng, 3) == 0)
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 4));
        break;
    }
    case TFC_WRONG_LEN:
        d->what = "known type, wrong length";
        k = tf_below(rng, 5);
        do
            d->len = 8 + tf_below(rng, 64);
        while (d->len == want[k]);
        tf_dg_random(rng, 8, d->len);
        tf_dg_hdr(simple[k], seq);
        if (tf_below(rng, 3) == 0)
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 4));
        break;
    case TFC_FDS_ON_SIMPLE: {
        /* Well formed but for the fds: even a STOP, or a KILL of the test
           process, must only be refused. */
        fsrv__hello *h = (fsrv__hello *)(void *)tf_dg_buf;
        fsrv__pid_msg *p = (fsrv__pid_msg *)(void *)tf_dg_buf;
        fsrv__reap_msg *r = (fsrv__reap_msg *)(void *)tf_dg_buf;
        d->what = "fds on a message that takes none";
        k = tf_below(rng, 5);
        d->len = want[k];
        tf_dg_hdr(simple[k], seq);
        if (simple[k] == FSRV__HELLO) {
            h->magic = FSRV__MAGIC;
            h->version = FSRV_VERSION;
            h->ptrsize = sizeof(char *);
        } else if (simple[k] == FSRV__WAIT || simple[k] == FSRV__KILL) {
            p->pid = getpid();
            p->arg = simple[k] == FSRV__KILL ? SIGKILL : 1;
        } else if (simple[k] == FSRV__REAP) {
            r->max = 4;
        }
        tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 4));
        break;
    }
    case TFC_HELLO: {
        fsrv__hello *h = (fsrv__hello *)(void *)tf_dg_buf;
        d->what = "hello, wrong magic, version or pointer size";
        d->len = sizeof *h;
        tf_dg_hdr(FSRV__HELLO, seq);
        h->magic = FSRV__MAGIC;
        h->version = FSRV_VERSION;
        h->ptrsize = sizeof(char *);
        k = 1 + tf_below(rng, 7); /* which fields to spoil, at least one */
        if (k & 1)
            h->magic ^= 1u << tf_below(rng, 32);
        if (k & 2)
            h->version = FSRV_VERSION + 1 + tf_below(rng, 100);
        if (k & 4)
            h->ptrsize = sizeof(char *) == 8 ? 4 : 8;
        break;
    }
    case TFC_WAIT: {
        fsrv__pid_msg *p = (fsrv__pid_msg *)(void *)tf_dg_buf;
        static const int32_t badpid[] = { 0, -1, INT_MIN };
        d->what = "wait: bad pid or option, or no such child";
        d->len = sizeof *p;
        tf_dg_hdr(FSRV__WAIT, seq);
        p->arg = (int32_t)tf_below(rng, 2);
        switch (tf_below(rng, 4)) {
        case 0:
            p->pid = badpid[tf_below(rng, 3)];
            tf_dg_errs(d, EINVAL, 0);
            break;
        case 1:
            p->pid = getpid();
            p->arg = 2 + (int32_t)tf_below(rng, 1000);
            tf_dg_errs(d, EINVAL, 0);
            break;
        default: { /* not a child of the server's: it has none now */
            pid_t pick[4];
            pick[0] = getpid();
            pick[1] = 1;
            pick[2] = server;
            pick[3] = 1 + (pid_t)tf_below(rng, 1u << 22);
            p->pid = pick[tf_below(rng, 4)];
            tf_dg_errs(d, ECHILD, 0);
        }
        }
        break;
    }
    case TFC_KILL: {
        /* Signals that could reach a process of somebody else's, were the
           server to send them, are 0; only our own processes get real
           ones: a server that wrongly obeyed harms nobody else. */
        fsrv__pid_msg *p = (fsrv__pid_msg *)(void *)tf_dg_buf;
        d->what = "kill: not an unreaped child";
        d->len = sizeof *p;
        tf_dg_hdr(FSRV__KILL, seq);
        switch (tf_below(rng, 8)) {
        case 0: p->pid = 0; p->arg = 0; tf_dg_errs(d, EINVAL, 0); break;
        case 1: p->pid = INT_MIN; p->arg = 0; tf_dg_errs(d, EINVAL, 0); break;
        case 2: p->pid = getpid(); p->arg = SIGKILL; break;
        case 3: p->pid = -getpgrp(); p->arg = SIGKILL; break;
        case 4: p->pid = server; p->arg = SIGKILL; break;
        case 5: p->pid = -1; p->arg = 0; break;
        case 6: p->pid = 1; p->arg = 0; break;
        default:
            p->pid = 1 + (pid_t)tf_below(rng, 1u << 22);
            if (tf_below(rng, 2))
                p->pid = -p->pid;
            p->arg = 0;
        }
        if (d->errs[0] == EPROTO)
            tf_dg_errs(d, ESRCH, 0);
        break;
    }
    case TFC_REAP: {
        fsrv__reap_msg *r = (fsrv__reap_msg *)(void *)tf_dg_buf;
        d->what = "reap";
        d->len = sizeof *r;
        tf_dg_hdr(FSRV__REAP, seq);
        if (tf_below(rng, 4) == 0) { /* a valid one: nothing to reap */
            r->max = (int32_t)tf_below(rng, 100000);
            d->ok = 0;
        } else {
            r->max = -1 - (int32_t)tf_below(rng, 1u << 30);
            tf_dg_errs(d, EINVAL, 0);
        }
        break;
    }
    case TFC_OVERSIZED: {
        static const uint32_t types[] = { FSRV__HELLO, FSRV__LAUNCH,
            FSRV__WAIT, FSRV__KILL, FSRV__REAP, FSRV__STOP, 0x12345678 };
        d->what = "larger than FSRV_MSG_MAX";
        d->len = FSRV_MSG_MAX + 1 + tf_below(rng, 90000);
        tf_dg_random(rng, 8, d->len);
        tf_dg_hdr(types[tf_below(rng, 7)], seq);
        tf_dg_errs(d, E2BIG, 0);
        if (tf_below(rng, 2))
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 4));
        break;
    }
    case TFC_MANY_FDS: /* 253, the kernel's SCM_MAX_FD: one too many */
        d->what = "253 fds";
        d->len = 8 + tf_below(rng, 200);
        tf_dg_random(rng, 8, d->len);
        tf_dg_hdr(tf_below(rng, 2) ? FSRV__LAUNCH : FSRV__WAIT, seq);
        tf_dg_probe(d); /* first: the kernel drops those past the room */
        while (d->nfds < 253)
            tf_dg_add(d, pool->null);
        break;
    case TFC_SPLIT: {
        fsrv__pid_msg *p = (fsrv__pid_msg *)(void *)tf_dg_buf;
        d->what = "fds in two control messages";
        d->len = sizeof *p;
        tf_dg_hdr(FSRV__WAIT, seq);
        p->pid = getpid();
        p->arg = 1;
        d->split = 1;
        tf_dg_some_fds(d, pool, rng, 1 + (int)tf_below(rng, 5));
        break;
    }
    case TFC_L_SHORT:
        d->what = "launch shorter than its header";
        d->len = 8 + tf_below(rng, sizeof(fsrv__launch_msg) - 8);
        tf_dg_random(rng, 8, d->len);
        tf_dg_hdr(FSRV__LAUNCH, seq);
        if (tf_below(rng, 2))
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 4));
        break;
    case TFC_L_NFDS: {
        fsrv__launch_msg *m = (fsrv__launch_msg *)(void *)tf_dg_buf;
        d->what = "launch with more fds than FSRV_MAX_FDS";
        d->len = sizeof *m + tf_below(rng, 2000);
        tf_dg_random(rng, 8, d->len);
        tf_dg_hdr(FSRV__LAUNCH, seq);
        m->nfds = tf_below(rng, 2) ? 0xffffffffu
                                   : FSRV_MAX_FDS + 1 + tf_below(rng, 1000);
        if (tf_below(rng, 2))
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 4));
        break;
    }
    case TFC_L_OFF: {
        fsrv__launch_msg *m = (fsrv__launch_msg *)(void *)tf_dg_buf;
        d->what = "launch cut inside its child fd numbers";
        v = 1 + tf_below(rng, FSRV_MAX_FDS);
        d->len = sizeof *m + tf_below(rng, (uint32_t)(fsrv__body_off(v) -
                                                      sizeof *m));
        tf_dg_random(rng, 8, d->len);
        tf_dg_hdr(FSRV__LAUNCH, seq);
        m->nfds = v;
        if (tf_below(rng, 2))
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 4));
        break;
    }
    case TFC_L_FLAGS: {
        static const uint32_t bad[] = { 0x10, 0x20, 0x80, 0x8000, 0x80000,
            0x80000000u, FSRV_SETSID | FSRV_SETPGID,
            FSRV_ENTRY /* no entry function in this server */ };
        d->what = "launch with bad flags";
        dst[0] = 5;
        blen = tf_good_body(tf_dg_body);
        d->len = tf_launch(seq, FSRV__W_ENV | bad[tf_below(rng, 8)], dst, 1,
                           2, 1, tf_dg_body, blen, 1);
        tf_dg_add(d, pool->dir);
        tf_dg_probe(d);
        tf_dg_errs(d, EINVAL, 0);
        break;
    }
    case TFC_L_COUNT: {
        /* cwd, [body], nmap mapped: send one more or fewer (maybe none) */
        int bodyfd = (int)tf_below(rng, 2), nmap = (int)tf_below(rng, 6);
        int want_n = 1 + bodyfd + nmap, n;
        d->what = "launch whose fd count disagrees with its header";
        do
            n = (int)tf_below(rng, (uint32_t)want_n + 4);
        while (n == want_n);
        for (i = 0; i < nmap; i++)
            dst[i] = 3 + i;
        blen = tf_good_body(tf_dg_body);
        d->len = tf_launch(seq, FSRV__W_ENV, dst, (uint32_t)nmap, 2, 1,
                           tf_dg_body, blen, !bodyfd);
        if (n > 0)
            tf_dg_probe(d);
        while (d->nfds < n)
            tf_dg_add(d, pool->null);
        break;
    }
    case TFC_L_DST: {
        int nmap = 2 + (int)tf_below(rng, 5);
        d->what = "launch mapping onto a negative or repeated number";
        for (i = 0; i < nmap; i++)
            dst[i] = 3 + i;
        if (tf_below(rng, 2))
            dst[tf_below(rng, (uint32_t)nmap)] =
                tf_below(rng, 2) ? -1 : INT_MIN;
        else
            dst[nmap - 1] = dst[tf_below(rng, (uint32_t)nmap - 1)];
        blen = tf_good_body(tf_dg_body);
        d->len = tf_launch(seq, FSRV__W_ENV, dst, (uint32_t)nmap, 2, 1,
                           tf_dg_body, blen, 1);
        tf_dg_add(d, pool->dir);
        tf_dg_probe(d);
        while (d->nfds < 1 + nmap)
            tf_dg_add(d, pool->null);
        tf_dg_errs(d, EINVAL, 0);
        break;
    }
    case TFC_L_INLINE_LEN: {
        fsrv__launch_msg *m = (fsrv__launch_msg *)(void *)tf_dg_buf;
        d->what = "launch whose body_len disagrees with its length";
        dst[0] = 5;
        blen = tf_good_body(tf_dg_body);
        d->len = tf_launch(seq, FSRV__W_ENV, dst, 1, 2, 1, tf_dg_body, blen,
                           1);
        if (tf_below(rng, 2)) {
            do
                m->body_len = tf_below(rng, 2) ? tf_rand(rng)
                              : (uint32_t)blen - 8 + tf_below(rng, 17);
            while (m->body_len == blen);
        } else { /* or junk after the body */
            k = 1 + tf_below(rng, 64);
            tf_dg_random(rng, d->len, d->len + k);
            d->len += k;
        }
        tf_dg_add(d, pool->dir);
        tf_dg_probe(d);
        break;
    }
    case TFC_L_BODYFD: {
        fsrv__launch_msg *m = (fsrv__launch_msg *)(void *)tf_dg_buf;
        int body = -1;
        d->what = "launch whose body fd is wrong";
        dst[0] = 5;
        blen = tf_good_body(tf_dg_body);
        d->len = tf_launch(seq, FSRV__W_ENV, dst, 1, 2, 1, tf_dg_body, blen,
                           0);
        switch (tf_below(rng, 5)) {
        case 0: /* the body inline as well */
            memcpy(tf_dg_buf + d->len, tf_dg_body, blen);
            d->len += blen;
            body = tf_memfd(tf_dg_body, blen);
            break;
        case 1: /* an empty body */
            m->body_len = 0;
            body = tf_memfd(tf_dg_body, blen);
            break;
        case 2: /* a body beyond FSRV__BODY_MAX */
            m->body_len = FSRV__BODY_MAX + 1 + tf_below(rng, 1000);
            body = tf_memfd(tf_dg_body, blen);
            break;
        case 3: /* a memfd shorter than the body */
            body = tf_memfd(tf_dg_body, blen - 1 - tf_below(rng, 30));
            break;
        default: /* not a file at all */
            body = tf_below(rng, 2) ? pool->pipe_r : pool->sock;
        }
        tf_dg_add(d, pool->dir);
        tf_dg_add(d, body);
        if (body != pool->pipe_r && body != pool->sock)
            tf_dg_own(d, body);
        tf_dg_probe(d);
        break;
    }
    case TFC_L_PARSE: {
        /* Well framed, but the body does not parse: inline or in a memfd */
        static const char *const s2[] = { "/nonexistent-fsrv/x", "a" };
        static const char *const s3[] = { "/nonexistent-fsrv/x", "a",
                                          "A=1" };
        uint32_t flags = FSRV__W_ENV, argc = 2, envc = 1;
        int inl = (int)tf_below(rng, 2);
        d->what = "launch whose body does not parse";
        blen = tf_body(tf_dg_body, 5, s3, 3);
        switch (tf_below(rng, 8)) {
        case 0: argc = 0; break;
        case 1: argc = 0x40000000u + tf_below(rng, 1000); break;
        case 2: blen--; break; /* the last string unterminated */
        case 3: /* junk after the last string */
            k = 1 + tf_below(rng, 16);
            memset(tf_dg_body + blen, 'j', k);
            blen += k;
            break;
        case 4: envc = 2 + tf_below(rng, 1000); break;
        case 5: flags |= FSRV_SEARCH_PATH; break; /* no PATH string */
        case 6: /* no environment announced: its string is junk */
            flags = 0;
            blen = tf_body(tf_dg_body, 3, s3, 3);
            break;
        default: /* shorter than its slots */
            blen = tf_body(tf_dg_body, 5, s2, 0) - 8;
        }
        dst[0] = 5;
        d->len = tf_launch(seq, flags, dst, 1, argc, envc, tf_dg_body, blen,
                           inl);
        tf_dg_add(d, pool->dir);
        if (!inl) {
            int body = tf_memfd(tf_dg_body, blen);
            tf_dg_add(d, body);
            tf_dg_own(d, body);
        }
        tf_dg_probe(d);
        tf_dg_errs(d, EINVAL, 0);
        break;
    }
    case TFC_L_SPAWN: {
        /* Well formed, runs /bin/true: the child's setup step fails */
        static const char *const s[] = { "/bin/true" };
        d->what = "launch whose cwd or mapping fails in the child";
        dst[0] = 5;
        blen = tf_body(tf_dg_body, 2, s, 1);
        if (tf_below(rng, 2)) {
            d->len = tf_launch(seq, 0, dst, 1, 1, 0, tf_dg_body, blen, 1);
            tf_dg_add(d, tf_below(rng, 2) ? pool->pipe_r : pool->sock);
            tf_dg_errs(d, ENOTDIR, 0);
        } else {
            dst[0] = 1 << 30; /* beyond RLIMIT_NOFILE */
            d->len = tf_launch(seq, 0, dst, 1, 1, 0, tf_dg_body, blen, 1);
            tf_dg_add(d, pool->dir);
            tf_dg_errs(d, EBADF, 0);
        }
        tf_dg_probe(d);
        break;
    }
    case TFC_L_MAXFDS: {
        /* FSRV_MAX_FDS mapped, the body in a memfd: 252 fds, all the room
           there is; the body does not parse, or the last target fails */
        static const char *const s[] = { "/bin/true" };
        int body, bad = (int)tf_below(rng, 2);
        d->what = "launch with FSRV_MAX_FDS fds";
        for (i = 0; i < FSRV_MAX_FDS; i++)
            dst[i] = 3 + i;
        blen = tf_body(tf_dg_body, 2, s, 1);
        if (bad)
            dst[FSRV_MAX_FDS - 1] = 1 << 30;
        d->len = tf_launch(seq, 0, dst, FSRV_MAX_FDS, bad ? 1 : 0, 0,
                           tf_dg_body, blen, 0);
        body = tf_memfd(tf_dg_body, blen);
        tf_dg_add(d, pool->dir);
        tf_dg_add(d, body);
        tf_dg_own(d, body);
        tf_dg_probe(d);
        while (d->nfds < FSRV_MAX_FDS + 2)
            tf_dg_add(d, pool->null);
        tf_dg_errs(d, bad ? EBADF : EINVAL, 0);
        break;
    }
    case TFC_L_MUTATE: {
        /* A well-formed launch of a program that does not exist, with a few
           bytes changed: whatever it has become, it fails. */
        d->what = "launch with random bytes changed";
        dst[0] = 5;
        blen = tf_good_body(tf_dg_body);
        d->len = tf_launch(seq, FSRV__W_ENV, dst, 1, 2, 1, tf_dg_body, blen,
                           1);
        for (k = 1 + tf_below(rng, 4); k > 0; k--)
            tf_dg_buf[tf_below(rng, (uint32_t)d->len)] = (char)tf_rand(rng);
        switch (tf_below(rng, 4)) {
        case 0: d->len -= 1 + tf_below(rng, 8); break;
        case 1:
            k = 1 + tf_below(rng, 8);
            tf_dg_random(rng, d->len, d->len + k);
            d->len += k;
            break;
        }
        tf_dg_add(d, pool->dir);
        if (tf_below(rng, 8))
            tf_dg_probe(d);
        if (tf_below(rng, 8) == 0)
            tf_dg_add(d, pool->null);
        d->errs[0] = TF_ANY;
        break;
    }
    default: { /* TFC_RANDOM: random bytes, maybe a plausible type */
        uint32_t t;
        d->what = "random bytes";
        d->len = tf_below(rng, 400);
        tf_dg_random(rng, 0, d->len);
        if (d->len >= 8 && tf_below(rng, 2)) {
            t = 1 + tf_below(rng, 6);
            memcpy(tf_dg_buf, &t, 4);
        }
        if (tf_below(rng, 4) == 0)
            tf_dg_some_fds(d, pool, rng, (int)tf_below(rng, 3));
        d->errs[0] = TF_ANY;
        memcpy(&t, tf_dg_buf, 4);
        if (d->len >= 8 && !d->nfds) {
            if (t == FSRV__STOP && d->len == sizeof(fsrv__hdr))
                d->len++; /* a real STOP; everything else is fair game */
            if (t == FSRV__REAP && d->len == sizeof(fsrv__reap_msg)) {
                const fsrv__reap_msg *r =
                    (const fsrv__reap_msg *)(const void *)tf_dg_buf;
                if (r->max >= 0)
                    d->ok = 0;
            }
            if (t == FSRV__HELLO && d->len == sizeof(fsrv__hello)) {
                const fsrv__hello *h =
                    (const fsrv__hello *)(const void *)tf_dg_buf;
                if (h->magic == FSRV__MAGIC && h->version == FSRV_VERSION &&
                    h->ptrsize == sizeof(char *))
                    d->ok = FSRV_VERSION;
            }
        }
    }
    }
}

static const char *const tf_dg_cat[TFC_N] = {
    "EMPTY", "SHORT", "UNKNOWN", "WRONG_LEN", "FDS_ON_SIMPLE", "HELLO",
    "WAIT", "KILL", "REAP", "OVERSIZED", "MANY_FDS", "SPLIT", "L_SHORT",
    "L_NFDS", "L_OFF", "L_FLAGS", "L_COUNT", "L_DST", "L_INLINE_LEN",
    "L_BODYFD", "L_PARSE", "L_SPAWN", "L_MAXFDS", "L_MUTATE", "RANDOM"
};

/* Sends d, reads its reply straight off the channel and checks it: one
   error reply (or a valid request's answer) of its type and seq, no fd,
   every fd that went along closed again. */
static void tf_dg_run(const struct tf_dg *d, int i, int cat, int ch,
                      pid_t server, int fds0)
{
    fsrv__reply rep;
    uint32_t type = 0, seq = 0;
    int rfds = 0, rfl = 0, good, j;
    ssize_t r;
    char b;
    if (d->len >= sizeof(fsrv__hdr)) {
        memcpy(&type, tf_dg_buf, 4);
        memcpy(&seq, tf_dg_buf + 4, 4);
    }
    CHECK(tf_send(ch, tf_dg_buf, d->len, d->fds, d->nfds, d->split) ==
          (ssize_t)d->len);
    for (j = 0; j < d->nown; j++)
        close(d->own[j]);
    memset(&rep, 0, sizeof rep);
    r = tf_recv(ch, &rep, sizeof rep, &rfds, &rfl,
                (int)(5000 * t_slow));
    good = r == (ssize_t)sizeof rep && !rfds &&
           !(rfl & (MSG_TRUNC | MSG_CTRUNC)) &&
           rep.h.type == (type | FSRV__REPLY) && rep.h.seq == seq;
    if (good && d->ok >= 0) {
        good = rep.res == d->ok && rep.err == 0;
    } else if (good) {
        good = rep.res == -1 && rep.err > 0 && rep.err < 4096 &&
               rep.status == 0;
        if (good && d->errs[0] != TF_ANY)
            good = rep.err == d->errs[0] ||
                   (d->errs[1] && rep.err == d->errs[1]);
    }
    if (!good) {
        fprintf(stderr, "    datagram %d (%s: %s), %zu bytes, %d fds: "
                "reply of %zd bytes, %d fds, type %#x seq %#x res %d "
                "err %d (%s), want type %#x seq %#x %s %d\n", i,
                tf_dg_cat[cat], d->what, d->len, d->nfds, r, rfds,
                rep.h.type, rep.h.seq, rep.res, rep.err,
                strerror(rep.err), type | FSRV__REPLY, seq,
                d->ok >= 0 ? "res" : "err",
                d->ok >= 0 ? d->ok : d->errs[0]);
        CHECK(!"an error reply to a malformed datagram");
    }
    if (d->probe >= 0) {
        if (read(d->probe, &b, 1) != 0) {
            fprintf(stderr, "    datagram %d (%s: %s): an fd that went "
                    "along is still open somewhere\n", i, tf_dg_cat[cat],
                    d->what);
            CHECK(!"every fd sent along is closed");
        }
        close(d->probe);
    }
    if (d->nfds && t_count_fds(server) != fds0) {
        fprintf(stderr, "    datagram %d (%s: %s): the server holds %d "
                "fds, %d before\n", i, tf_dg_cat[cat], d->what,
                t_count_fds(server), fds0);
        CHECK(!"the server keeps no stray fd");
    }
}

static void test_fault_hostile_datagrams(void)
{
    const char *sh[] = { "/bin/sh", "-c", "exit 3", NULL };
    const char *sl[] = { "/bin/sleep", "30", NULL };
    fsrv_config nocfg = { NULL, NULL, 0 };
    struct tf_pool pool;
    struct tf_dg d;
    fsrv_client c;
    fsrv__reply rep;
    uint64_t rng = 0x5eed0001;
    int i, n, fds0, cfds0, sv[2], p[2], rfds, rfl, st, counts[TFC_N];
    pid_t server, pid;
    char path[PATH_MAX + 16];

    /* No entry function: a mutated launch that asks for one is refused,
       and nothing any datagram here can say starts a program. */
    CHECK(fsrv_start(&c, &nocfg) == 0);
    server = fsrv_server_pid(&c);
    fds0 = t_count_fds(server);
    cfds0 = t_count_fds(getpid());
    CHECK((pool.null = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
    CHECK((pool.dir = open(t_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pool.sock = sv[0];
    snprintf(path, sizeof path, "%s/file", t_dir);
    t_write_file(path, "not a body\n", 0644);
    CHECK((pool.file = open(path, O_RDWR | O_CLOEXEC)) >= 0);
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    pool.pipe_r = p[0];

    memset(counts, 0, sizeof counts);
    n = 4000; /* cheap even under valgrind: not scaled */
    for (i = 0; i < n; i++) {
        int cat = (int)tf_below(&rng, TFC_N);
        uint32_t seq = 0x10000u + (uint32_t)i;
        if (i % 101 == 0) /* the edges of the seq space too */
            seq = i % 202 ? 0xffffffffu : 0;
        tf_dg_make(&d, cat, &rng, seq, &pool, server);
        tf_dg_run(&d, i, cat, c.channel, server, fds0);
        counts[cat]++;
        if (i % 256 == 0)
            CHECK(t_alive(server));
    }
    for (i = 0; i < TFC_N; i++)
        CHECK(counts[i] > 0);
    /* Exactly one reply each: nothing left over. */
    CHECK(tf_recv(c.channel, &rep, sizeof rep, &rfds, &rfl, 0) == -1 &&
          errno == ETIMEDOUT);
    CHECK(t_alive(server));
    CHECK(t_count_fds(server) == fds0);
    CHECK(t_children(server, 0) == 0);

    /* A garbage request carrying the seq the client will use next: the
       server keeps no state by seq, so once its error reply is taken off
       the channel the real request with that seq gets its own answer.
       (A reply the client would mistake for its own can come only from
       whoever holds the server's end; the real server never sends one,
       and fault_stray_replies plays such a server.) */
    CHECK((pid = t_run(&c, sl, 0)) > 0);
    {
        fsrv__pid_msg m;
        m.h.type = FSRV__WAIT;
        m.h.seq = c.seq + 1;
        m.pid = pid;
        m.arg = 7; /* not an option: EINVAL */
        CHECK(tf_send(c.channel, &m, sizeof m, NULL, 0, 0) ==
              (ssize_t)sizeof m);
        CHECK(tf_recv(c.channel, &rep, sizeof rep, &rfds, &rfl, 5000) ==
              (ssize_t)sizeof rep);
        CHECK(rep.h.seq == c.seq + 1 && rep.res == -1 && rep.err == EINVAL);
    }
    CHECK(fsrv_waitpid(&c, pid, &st, WNOHANG) == 0);
    CHECK(fsrv_kill(&c, pid, SIGTERM) == 0);
    CHECK(KILLED(t_wait(&c, pid), SIGTERM));

    /* And the server still works. */
    CHECK(EXITED(t_wait(&c, t_run(&c, sh, 0)), 3));
    CHECK(t_count_fds(server) == fds0);
    CHECK(fsrv_stop(&c, 0) == 0);
    close(pool.null);
    close(pool.dir);
    close(sv[0]);
    close(sv[1]);
    close(pool.file);
    close(p[0]);
    close(p[1]);
    CHECK(t_count_fds(getpid()) == cfds0 - 2); /* channel, notify */
}

/* ---- fault_stray_replies ------------------------------------------------- */

/* A real server sends a reply only to a request, so strays and garbage can
   reach the client only from whoever holds the server's end.  Here the test
   holds it: a thread plays the server (fsrv_attach to a socketpair) and
   answers each request as the step in tf_fk.step says.  The client trusts
   its server, but its reader explicitly drops strays and refuses fds it did
   not ask for; this checks that it does, and that nothing leaks. */

enum {
    FK_HELLO, FK_STRAY_FIRST, FK_NEXT_EARLY, FK_NEXT_REAL, FK_WRONG_TYPE,
    FK_SHORT_FIRST, FK_EMPTY_FIRST, FK_BIG_FIRST, FK_MANY_FDS_FIRST,
    FK_FD_ON_WAIT, FK_REAP_TOO_MANY, FK_REAP_BAD_LEN, FK_REAP_OK,
    FK_ERR_ZERO, FK_LAUNCH_TWO_FDS, FK_LAUNCH_ERR_FD, FK_LAUNCH_UNASKED_FD,
    FK_EMPTY_FD_FIRST, FK_STOP
};

struct tf_fk {
    int sock;   /* the fake server's end */
    int step;   /* what to do with the next request (atomic) */
    int probe;  /* an fd to send along, or -1 (atomic) */
    int null;
    uint32_t early_seq;
};

static void tf_fk_reply(int sock, uint32_t type, uint32_t seq, int32_t res,
                        int32_t err, int32_t status, const int32_t *pairs,
                        int npairs, const int *fds, int nfds)
{
    char b[sizeof(fsrv__reply) + 8 * 8];
    fsrv__reply *r = (fsrv__reply *)(void *)b;
    r->h.type = type | FSRV__REPLY;
    r->h.seq = seq;
    r->res = res;
    r->err = err;
    r->status = status;
    if (npairs)
        memcpy(r + 1, pairs, (size_t)npairs * 8);
    CHECK(tf_send(sock, b, sizeof *r + (size_t)npairs * 8, fds, nfds, 0) >=
          0);
}

static void *tf_fk_main(void *arg)
{
    static char big[FSRV_MSG_MAX + 4096];
    struct tf_fk *f = (struct tf_fk *)arg;
    char req[FSRV_MSG_MAX];
    for (;;) {
        int nf = 0, fl = 0, step, probe, fds[5];
        int32_t pairs[6] = { 101, 0x100, 102, 0x200, 103, 0x300 };
        uint32_t type, seq;
        ssize_t n = tf_recv(f->sock, req, sizeof req, &nf, &fl, -1);
        if (n <= 0)
            return NULL; /* the client closed: done */
        CHECK(n >= (ssize_t)sizeof(fsrv__hdr));
        memcpy(&type, req, 4);
        memcpy(&seq, req + 4, 4);
        step = __atomic_load_n(&f->step, __ATOMIC_SEQ_CST);
        probe = __atomic_load_n(&f->probe, __ATOMIC_SEQ_CST);
        switch (step) {
        case FK_HELLO:
            CHECK(type == FSRV__HELLO);
            tf_fk_reply(f->sock, type, seq, FSRV_VERSION, 0, 0, NULL, 0,
                        NULL, 0);
            break;
        case FK_STRAY_FIRST: /* a reply nobody asked for, with an fd */
            tf_fk_reply(f->sock, type, seq + 1000, 999, 0, 0x4242, NULL, 0,
                        &probe, 1);
            tf_fk_reply(f->sock, type, seq, 1234, 0, 0x300, NULL, 0, NULL,
                        0);
            break;
        case FK_NEXT_EARLY: /* an answer to the next request, before it */
            f->early_seq = seq;
            tf_fk_reply(f->sock, type, seq + 1, 1236, 0, 0x500, NULL, 0,
                        NULL, 0);
            tf_fk_reply(f->sock, type, seq, 0, 0, 0, NULL, 0, NULL, 0);
            break;
        case FK_NEXT_REAL:
            CHECK(seq == f->early_seq + 1); /* else this proves nothing */
            tf_fk_reply(f->sock, type, seq, 1236, 0, 0x700, NULL, 0, NULL,
                        0);
            break;
        case FK_WRONG_TYPE:
            tf_fk_reply(f->sock, FSRV__WAIT, seq, 0, 0, 0, NULL, 0, NULL,
                        0);
            break;
        case FK_SHORT_FIRST: {
            fsrv__reply r;
            r.h.type = type | FSRV__REPLY;
            r.h.seq = seq;
            r.res = -1;
            r.err = EPERM;
            CHECK(tf_send(f->sock, &r, 12, NULL, 0, 0) == 12);
            tf_fk_reply(f->sock, type, seq, 0, 0, 0, NULL, 0, NULL, 0);
            break;
        }
        case FK_EMPTY_FIRST:
            CHECK(tf_send(f->sock, "", 0, NULL, 0, 0) == 0);
            tf_fk_reply(f->sock, type, seq, 0, 0, 0, NULL, 0, NULL, 0);
            break;
        case FK_BIG_FIRST: { /* truncated on receipt: dropped */
            fsrv__reply *r = (fsrv__reply *)(void *)big;
            r->h.type = type | FSRV__REPLY;
            r->h.seq = seq;
            r->res = -1;
            r->err = EPERM;
            CHECK(tf_send(f->sock, big, sizeof big, &probe, 1, 0) ==
                  (ssize_t)sizeof big);
            tf_fk_reply(f->sock, type, seq, 0, 0, 0, NULL, 0, NULL, 0);
            break;
        }
        case FK_MANY_FDS_FIRST: /* more fds than the client has room for */
            fds[0] = probe;
            fds[1] = fds[2] = fds[3] = fds[4] = f->null;
            tf_fk_reply(f->sock, type, seq, -1, EPERM, 0, NULL, 0, fds, 5);
            tf_fk_reply(f->sock, type, seq, 0, 0, 0, NULL, 0, NULL, 0);
            break;
        case FK_FD_ON_WAIT:
            tf_fk_reply(f->sock, type, seq, 1234, 0, 0, NULL, 0, &probe, 1);
            break;
        case FK_REAP_TOO_MANY: /* the client asked for 2 */
            tf_fk_reply(f->sock, type, seq, 3, 0, 0, pairs, 3, NULL, 0);
            break;
        case FK_REAP_BAD_LEN:
            tf_fk_reply(f->sock, type, seq, 2, 0, 0, pairs, 3, NULL, 0);
            break;
        case FK_REAP_OK:
            tf_fk_reply(f->sock, type, seq, 2, 0, 0, pairs, 2, NULL, 0);
            break;
        case FK_ERR_ZERO:
            tf_fk_reply(f->sock, type, seq, -1, 0, 0, NULL, 0, NULL, 0);
            break;
        case FK_LAUNCH_TWO_FDS:
            fds[0] = probe;
            fds[1] = f->null;
            tf_fk_reply(f->sock, type, seq, 4321, 0, 0, NULL, 0, fds, 2);
            break;
        case FK_LAUNCH_ERR_FD:
            tf_fk_reply(f->sock, type, seq, -1, ENOENT, 0, NULL, 0, &probe,
                        1);
            break;
        case FK_LAUNCH_UNASKED_FD:
            tf_fk_reply(f->sock, type, seq, 4322, 0, 0, NULL, 0, &probe, 1);
            break;
        case FK_EMPTY_FD_FIRST:
            CHECK(tf_send(f->sock, "", 0, &probe, 1, 0) == 0);
            tf_fk_reply(f->sock, type, seq, 0, 0, 0, NULL, 0, NULL, 0);
            break;
        default:
            CHECK(type == FSRV__STOP);
            tf_fk_reply(f->sock, type, seq, 0, 0, 0, NULL, 0, NULL, 0);
        }
    }
}

/* Arms the next step with a fresh probe pipe, whose write end the fake
   server sends along; returns the read end. */
static int tf_fk_arm(struct tf_fk *f, int step, int *wr)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    *wr = p[1];
    __atomic_store_n(&f->probe, p[1], __ATOMIC_SEQ_CST);
    __atomic_store_n(&f->step, step, __ATOMIC_SEQ_CST);
    return p[0];
}

/* After the call: our copy of the write end goes; EOF unless the client
   still holds the one it received.  Returns 1 when nothing leaked. */
static int tf_fk_closed(int rd, int wr)
{
    char b;
    ssize_t r;
    close(wr);
    r = read(rd, &b, 1);
    close(rd);
    return r == 0;
}

static int tf_fk_bad;

/* A defect that the test reports but lets the remaining steps run. */
static void tf_fk_expect(int ok, int line, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "    test.c:%d: %s\n", line, what);
    tf_fk_bad++;
}
#define TF_EXPECT(c, what) tf_fk_expect(!!(c), __LINE__, what)

static void test_fault_stray_replies(void)
{
    char *argv[] = { (char *)"/bin/true", NULL };
    struct tf_fk f;
    fsrv_client c;
    fsrv_exit *ex;
    fsrv_launch_opts o;
    pthread_t th;
    int sv[2], np[2], rd, wr, st, fds0, pidfd;
    pid_t r;
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe2(np, O_CLOEXEC) == 0);
    CHECK((f.null = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
    f.sock = sv[1];
    f.step = FK_HELLO;
    f.probe = -1;
    CHECK(pthread_create(&th, NULL, tf_fk_main, &f) == 0);
    CHECK(fsrv_attach(&c, sv[0], np[0], -1) == 0);
    fds0 = t_count_fds(getpid());

    rd = tf_fk_arm(&f, FK_STRAY_FIRST, &wr);
    CHECK(fsrv_waitpid(&c, 1234, &st, WNOHANG) == 1234 && st == 0x300);
    CHECK(tf_fk_closed(rd, wr));

    /* An answer to the next request that comes before the request is a
       stray when it comes: the next request gets its own. */
    rd = tf_fk_arm(&f, FK_NEXT_EARLY, &wr);
    CHECK(fsrv_waitpid(&c, 1235, &st, WNOHANG) == 0);
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_NEXT_REAL, &wr);
    st = 0;
    CHECK(fsrv_waitpid(&c, 1236, &st, WNOHANG) == 1236);
    CHECK(st == 0x700); /* 0x500 was the early one's */
    CHECK(tf_fk_closed(rd, wr));

    rd = tf_fk_arm(&f, FK_WRONG_TYPE, &wr);
    CHECK_ERR(fsrv_kill(&c, 1234, 0), EPROTO);
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_SHORT_FIRST, &wr);
    CHECK(fsrv_kill(&c, 1234, 0) == 0);
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_EMPTY_FIRST, &wr);
    CHECK(fsrv_kill(&c, 1234, 0) == 0); /* garbage, not EOF */
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_BIG_FIRST, &wr);
    CHECK(fsrv_kill(&c, 1234, 0) == 0);
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_MANY_FDS_FIRST, &wr);
    CHECK(fsrv_kill(&c, 1234, 0) == 0);
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_FD_ON_WAIT, &wr);
    CHECK_ERR(fsrv_waitpid(&c, 1234, &st, WNOHANG), EPROTO);
    CHECK(tf_fk_closed(rd, wr));

    /* Exactly as many pairs as asked for (ASan sees a write past them). */
    CHECK((ex = (fsrv_exit *)malloc(4 * sizeof *ex)) != NULL);
    rd = tf_fk_arm(&f, FK_REAP_TOO_MANY, &wr);
    CHECK_ERR(fsrv_reap(&c, ex + 2, 2), EPROTO);
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_REAP_BAD_LEN, &wr);
    CHECK_ERR(fsrv_reap(&c, ex, 4), EPROTO);
    CHECK(tf_fk_closed(rd, wr));
    rd = tf_fk_arm(&f, FK_REAP_OK, &wr);
    CHECK(fsrv_reap(&c, ex, 4) == 2);
    CHECK(ex[0].pid == 101 && ex[0].status == 0x100);
    CHECK(ex[1].pid == 102 && ex[1].status == 0x200);
    CHECK(tf_fk_closed(rd, wr));
    free(ex);
    rd = tf_fk_arm(&f, FK_ERR_ZERO, &wr);
    CHECK_ERR(fsrv_kill(&c, 1234, 0), EPROTO); /* never -1 with errno 0 */
    CHECK(tf_fk_closed(rd, wr));

    memset(&o, 0, sizeof o);
    o.pidfd = &pidfd;
    rd = tf_fk_arm(&f, FK_LAUNCH_TWO_FDS, &wr);
    CHECK_ERR(fsrv_launch(&c, argv, NULL, &o), EPROTO);
    CHECK(tf_fk_closed(rd, wr));
    CHECK(t_count_fds(getpid()) == fds0);

    /* The rest find defects: each is reported, and the test fails at the
       end, after all of them have run. */
    rd = tf_fk_arm(&f, FK_LAUNCH_ERR_FD, &wr);
    errno = 0;
    r = fsrv_launch(&c, argv, NULL, &o);
    TF_EXPECT(r == -1 && errno == ENOENT, "launch error reply: ENOENT");
    TF_EXPECT(tf_fk_closed(rd, wr),
              "an fd that came with a launch's error reply is closed");
    o.pidfd = NULL;
    rd = tf_fk_arm(&f, FK_LAUNCH_UNASKED_FD, &wr);
    TF_EXPECT(fsrv_launch(&c, argv, NULL, &o) == 4322, "launch reply");
    TF_EXPECT(tf_fk_closed(rd, wr),
              "a pidfd that nobody asked for is closed");
    rd = tf_fk_arm(&f, FK_EMPTY_FD_FIRST, &wr);
    errno = 0;
    r = fsrv_kill(&c, 1234, 0);
    if (r != 0)
        fprintf(stderr, "    kill after an empty datagram with an fd: "
                "%d, errno %d (%s)\n", (int)r, errno, strerror(errno));
    TF_EXPECT(r == 0, "an empty datagram with an fd is garbage, not EOF");
    TF_EXPECT(tf_fk_closed(rd, wr),
              "the fd of an empty datagram is closed");

    __atomic_store_n(&f.step, FK_STOP, __ATOMIC_SEQ_CST);
    fsrv_stop(&c, 0);
    CHECK(pthread_join(th, NULL) == 0);
    close(sv[1]);
    close(np[1]);
    close(f.null);
    CHECK(tf_fk_bad == 0);
}

/* ---- fault_launch_burst -------------------------------------------------- */

/* Many threads launching at once: the client's set of unreaped pids makes
   room for one more before each launch is sent, so more launches in
   flight at once than the room left must still fit. */
struct tf_lb { fsrv_client *c; pthread_barrier_t *bar; int id, *done; };

static void *tf_lb_main(void *arg)
{
    struct tf_lb *b = (struct tf_lb *)arg;
    char code[16];
    const char *argv[] = { "exit", code, NULL };
    pid_t pid;
    snprintf(code, sizeof code, "%d", b->id);
    pthread_barrier_wait(b->bar);
    CHECK((pid = t_run(b->c, argv, FSRV_ENTRY)) > 0);
    CHECK(EXITED(t_wait(b->c, pid), b->id));
    __atomic_add_fetch(b->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_fault_launch_burst(void)
{
    enum { N = 200 };
    static struct tf_lb b[N];
    static pthread_t th[N];
    pthread_barrier_t bar;
    fsrv_client c;
    double t0, limit = 5 * t_slow;
    int i, done = 0;
    t_start(&c);
    CHECK(pthread_barrier_init(&bar, NULL, N) == 0);
    for (i = 0; i < N; i++) {
        b[i].c = &c;
        b[i].bar = &bar;
        b[i].id = i;
        b[i].done = &done;
        CHECK(pthread_create(&th[i], NULL, tf_lb_main, &b[i]) == 0);
    }
    /* A hung client hangs every thread: give up after `limit` with a
       diagnosis rather than wait for the runner's timeout. */
    t0 = t_now();
    while (__atomic_load_n(&done, __ATOMIC_SEQ_CST) < N &&
           t_now() - t0 < limit)
        t_sleep_ms(10);
    if (__atomic_load_n(&done, __ATOMIC_SEQ_CST) < N) {
        fprintf(stderr, "    %d of %d launches still unanswered after "
                "%.0f s\n", N - done, N, limit);
        CHECK(!"every launch of a burst returns");
    }
    for (i = 0; i < N; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    pthread_barrier_destroy(&bar);
    CHECK(fsrv_stop(&c, 0) == 0);
}

/* ---- fault_child_fd_limits ----------------------------------------------- */

/* Mapping targets at the edges of the fd space: the highest number the
   fd limit allows works, as with dup2 and posix_spawn; INT_MAX and beyond
   the limit fail with EBADF and leave no child. */
static void test_fault_child_fd_limits(void)
{
    const char *lister[] = { t_exe, "--list-fds", NULL };
    const char *entry[] = { "fds", NULL };
    const char *tru[] = { "/bin/true", NULL };
    struct rlimit rl;
    fsrv_launch_opts o;
    fsrv_fd m[2];
    fsrv_client c;
    char buf[4096], want[64];
    int p[2], st, lim, i, fds0;
    pid_t pid;
    /* A small limit, inherited by the server, keeps the fd tables small */
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = 256;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    lim = 256;
    CHECK(fsrv_start(&c, &tf_cfg) == 0);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    memset(&o, 0, sizeof o);
    o.fds = m;
    for (i = 0; i < 2; i++) { /* exec, then entry */
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        m[0].parent_fd = p[1];
        m[0].child_fd = 1;
        m[1].parent_fd = p[1];
        m[1].child_fd = lim - 1;
        o.nfds = 2;
        o.flags = i ? FSRV_ENTRY : 0;
        errno = 0;
        pid = fsrv_launch(&c, (char *const *)(i ? entry : lister), NULL, &o);
        close(p[1]);
        if (pid < 0) {
            fprintf(stderr, "    %s child, target %d: errno %d (%s)\n",
                    i ? "entry" : "exec", lim - 1, errno, strerror(errno));
            CHECK(!"a target just below RLIMIT_NOFILE works");
        }
        tf_read_all(p[0], buf, sizeof buf);
        close(p[0]);
        CHECK(EXITED(t_wait(&c, pid), 0));
        snprintf(want, sizeof want, i ? "fd %d " : " %d ", lim - 1);
        CHECK(strstr(buf, want) != NULL);
    }
    m[0].parent_fd = 1;
    o.nfds = 1;
    for (i = 0; i < 4; i++) {
        static const int targets[] = { INT_MAX, INT_MAX - 1, 1 << 30 };
        m[0].child_fd = targets[i % 3];
        o.flags = i == 3 ? FSRV_ENTRY : 0;
        if (i == 3)
            m[0].child_fd = INT_MAX;
        errno = 0;
        pid = fsrv_launch(&c, (char *const *)(i == 3 ? entry : tru), NULL,
                          &o);
        if (pid > 0) {
            st = t_wait(&c, pid);
            fprintf(stderr, "    target %d: launched pid %d, status %#x\n",
                    m[0].child_fd, (int)pid, st);
        }
        CHECK(pid == -1 && errno == EBADF);
    }
    CHECK(t_children(fsrv_server_pid(&c), 0) == 0);
    t_zombie_check(&c, fds0);
    CHECK(fsrv_stop(&c, 0) == 0);
}

/* ---- fault_server_killed_under_traffic ----------------------------------- */

/* 100 rounds: a server under FSRV_SUBREAPER, 8 threads launching (entry
   children that sleep 0-3 ms, or /bin/true), killing and waiting, and a
   SIGKILL for the server after 0-20 ms (fixed seed).  Every call must
   succeed or find the server gone (ECONNRESET, EPIPE), none may go on for
   more than a second after the kill, SIGPIPE is left at its default, and
   every child whose pid a launch returned must have its status collected,
   once, by the thread that launched it.  What waitpid(-1) finds after
   fsrv_stop can only be children whose launch reply died with the server
   (the header's LIMITATIONS); it must never find a known pid. */

static int64_t tf_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct tf_kt_round {          /* shared by the threads of one round */
    fsrv_client *c;
    int64_t kill_ns;          /* atomic: when the server was killed */
    pthread_mutex_t lock;
    pid_t known[8192];        /* every pid a launch returned */
    int nknown;
};

struct tf_kt {                /* one thread's */
    struct tf_kt_round *r;
    uint64_t rng;
    int bad;
    double worst;             /* longest a call went on after the kill */
    char why[200];            /* the first bad outcome */
};

/* After a call that began at t0: how long it went on after the kill. */
static void tf_kt_timed(struct tf_kt *t, int64_t t0)
{
    int64_t k = __atomic_load_n(&t->r->kill_ns, __ATOMIC_SEQ_CST);
    int64_t t1 = tf_ns();
    if (k && t1 > k) {
        double d = (double)(t1 - (t0 > k ? t0 : k)) / 1e9;
        if (d > t->worst)
            t->worst = d;
    }
}

static void tf_kt_bad(struct tf_kt *t, const char *what, pid_t pid, int err,
                      int st)
{
    if (!t->bad++)
        snprintf(t->why, sizeof t->why, "%s, pid %d: errno %d (%s), "
                 "status %#x", what, (int)pid, err, strerror(err), st);
}

/* Launches (entry children sleeping 0-3 ms, or /bin/true), sometimes
   kills, and waits, until a launch finds the server gone. */
static void *tf_kt_main(void *arg)
{
    struct tf_kt *t = (struct tf_kt *)arg;
    fsrv_client *c = t->r->c;
    for (;;) {
        char ms[16];
        const char *ent[] = { "sleep", ms, NULL };
        const char *tru[] = { "/bin/true", NULL };
        int kind = (int)tf_below(&t->rng, 3), sig = 0, st = 0, err;
        int64_t t0 = tf_ns();
        pid_t pid, r;
        snprintf(ms, sizeof ms, "%u", tf_below(&t->rng, 4));
        pid = kind ? t_run(c, ent, FSRV_ENTRY) : t_run(c, tru, 0);
        err = errno;
        tf_kt_timed(t, t0);
        if (pid < 0) {
            if (!tf_gone(err))
                tf_kt_bad(t, "launch", -1, err, 0);
            return NULL;
        }
        pthread_mutex_lock(&t->r->lock);
        CHECK(t->r->nknown < (int)(sizeof t->r->known / sizeof(pid_t)));
        t->r->known[t->r->nknown++] = pid;
        pthread_mutex_unlock(&t->r->lock);
        if (tf_below(&t->rng, 3) == 0) {
            sig = tf_below(&t->rng, 2) ? SIGKILL : SIGTERM;
            t0 = tf_ns();
            r = fsrv_kill(c, pid, sig);
            err = errno;
            tf_kt_timed(t, t0);
            if (r != 0 && !tf_gone(err))
                tf_kt_bad(t, "kill", pid, err, 0);
        }
        if (tf_below(&t->rng, 2)) {
            t0 = tf_ns();
            r = fsrv_waitpid(c, pid, &st, WNOHANG);
            err = errno;
            tf_kt_timed(t, t0);
            if (r < 0 || (r > 0 && r != pid)) {
                tf_kt_bad(t, "waitpid WNOHANG", pid, err, st);
                continue;
            }
            if (r == pid)
                goto got;
        }
        /* Under FSRV_SUBREAPER a known child is ours once the server is
           gone: its status must come, whenever the server died. */
        t0 = tf_ns();
        r = fsrv_waitpid(c, pid, &st, 0);
        err = errno;
        tf_kt_timed(t, t0);
        if (r != pid) {
            tf_kt_bad(t, "waitpid: the status is lost", pid, err, 0);
            continue;
        }
    got:
        if (!EXITED(st, 0) && !(sig && KILLED(st, sig)))
            tf_kt_bad(t, "waitpid: a status not this child's", pid, 0, st);
    }
}

static int tf_kt_known(const struct tf_kt_round *r, pid_t pid)
{
    int i;
    for (i = 0; i < r->nknown; i++)
        if (r->known[i] == pid)
            return 1;
    return 0;
}

/* Names the children of the test process that are still there. */
static void tf_kt_stuck(void)
{
    struct dirent *e;
    DIR *d = opendir("/proc");
    CHECK(d != NULL);
    while ((e = readdir(d))) {
        char path[64], comm[64] = "";
        pid_t pid = atoi(e->d_name), pp = 0;
        int fd;
        if (pid <= 0 || !t_stat(pid, &pp) || pp != getpid())
            continue;
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
            ssize_t n = read(fd, comm, sizeof comm - 1);
            comm[n > 0 ? n - 1 : 0] = 0;
            close(fd);
        }
        fprintf(stderr, "    child %d (%s) still there\n", (int)pid, comm);
    }
    closedir(d);
}

static void test_fault_server_killed_under_traffic(void)
{
    enum { T = 8 };
    static struct tf_kt_round r;
    fsrv_config sub = { t_entry, NULL, FSRV_SUBREAPER };
    struct tf_kt t[T];
    pthread_t th[T];
    fsrv_client c;
    fsrv_exit ex[16];
    uint64_t rng = 0x5eed0003;
    int round, rounds = 100, i, st, lost = 0, cfds0;
    double t0;
    pid_t w;
    signal(SIGPIPE, SIG_DFL); /* a client that got SIGPIPE dies of it */
    cfds0 = t_count_fds(getpid());
    for (round = 0; round < rounds; round++) {
        struct timespec delay;
        memset(&r, 0, sizeof r);
        r.c = &c;
        CHECK(pthread_mutex_init(&r.lock, NULL) == 0);
        CHECK(fsrv_start(&c, &sub) == 0);
        for (i = 0; i < T; i++) {
            memset(&t[i], 0, sizeof t[i]);
            t[i].r = &r;
            t[i].rng = 0x5eed0300u + (uint64_t)round * T + (uint64_t)i;
            CHECK(pthread_create(&th[i], NULL, tf_kt_main, &t[i]) == 0);
        }
        delay.tv_sec = 0;
        delay.tv_nsec = (long)tf_below(&rng, 20000) * 1000; /* 0-20 ms */
        while (nanosleep(&delay, &delay) < 0 && errno == EINTR)
            ;
        __atomic_store_n(&r.kill_ns, tf_ns(), __ATOMIC_SEQ_CST);
        CHECK(kill(fsrv_server_pid(&c), SIGKILL) == 0);
        for (i = 0; i < T; i++) {
            CHECK(pthread_join(th[i], NULL) == 0);
            if (t[i].bad) {
                fprintf(stderr, "    round %d, thread %d: %d bad, the "
                        "first: %s\n", round, i, t[i].bad, t[i].why);
                CHECK(!"every call succeeds or finds the server gone");
            }
            if (t[i].worst >= 1.0 * t_slow) {
                fprintf(stderr, "    round %d, thread %d: a call went on "
                        "%.3f s after the kill\n", round, i, t[i].worst);
                CHECK(!"no call blocks after the kill");
            }
        }
        /* Every known status went to its thread: none is left. */
        CHECK(fsrv_reap(&c, ex, 16) == 0);
        CHECK(fsrv_stop(&c, 0) == 0);
        /* Left now: children whose launch reply died with the server (the
           header's LIMITATIONS), ours as their subreaper.  Never one that
           a launch returned: those were all collected above.  They live
           3 ms at most; anything still there after 5 s (a sanitizer's
           symbolizer, say, after a report) is named, not waited for. */
        t0 = t_now();
        while ((w = waitpid(-1, &st, WNOHANG)) >= 0) {
            if (w == 0) {
                if (t_now() - t0 > 5 * t_slow) {
                    tf_kt_stuck();
                    CHECK(!"the dead server's children all exit");
                }
                t_sleep_ms(1);
                continue;
            }
            if (tf_kt_known(&r, w)) {
                fprintf(stderr, "    round %d: pid %d, whose status "
                        "fsrv_waitpid returned, was left to waitpid(-1) "
                        "too: status %#x\n", round, (int)w, st);
                CHECK(!"no known child is left to waitpid(-1)");
            }
            lost++;
        }
        CHECK(errno == ECHILD);
        CHECK(t_children(getpid(), 1) == 0);
        pthread_mutex_destroy(&r.lock);
    }
    CHECK(t_count_fds(getpid()) == cfds0);
    if (getenv("FSRV_TEST_VERBOSE"))
        printf("    %d rounds, %d children unknown to the caller\n", rounds,
               lost);
}

static int tf_set_last_pid(pid_t v);

/* ---- fault_server_dies_mid_wait ------------------------------------------ */

/* The moments fault_server_killed_under_traffic hits by chance, made
   certain: strace sends the server SIGKILL as it enters a system call
   while it answers a WAIT for a child that has exited.
   (1) at the sendmsg of the reply: the status is not out yet.  Under
       FSRV_SUBREAPER the caller must still get it (not ECHILD, nor later
       the status of whatever process reuses the pid).
   (2) at the wait4 after the reply (where a server that replies before it
       reaps reaps): the caller has the status.  The library must not
       leave that child's zombie to the caller as well, where a
       waitpid(-1) would collect the same exit a second time.
   The same for fsrv_reap: fault_server_dies_mid_reap. */
static int tf_traced(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    int tracer = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "TracerPid:", 10))
            tracer = atoi(line + 10);
    fclose(f);
    return tracer;
}

/* Starts strace on the server, to kill it when it enters `call`; returns
   strace's pid once it is attached. */
static pid_t tf_kill_at(pid_t server, const char *call)
{
    char spid[16], trace[64], inject[96];
    double t0;
    pid_t tr;
    snprintf(spid, sizeof spid, "%d", (int)server);
    snprintf(trace, sizeof trace, "trace=%s", call);
    snprintf(inject, sizeof inject, "inject=%s:signal=SIGKILL", call);
    fflush(NULL);
    CHECK((tr = fork()) >= 0);
    if (tr == 0) {
        execlp("strace", "strace", "-qq", "-o", "/dev/null", "-e", trace,
               "-e", inject, "-p", spid, (char *)NULL);
        _exit(127);
    }
    t0 = t_now();
    while (!tf_traced(server) && t_now() - t0 < 5 * t_slow &&
           waitpid(tr, NULL, WNOHANG) == 0)
        t_sleep_ms(5);
    if (!tf_traced(server)) {
        kill(tr, SIGKILL);
        waitpid(tr, NULL, 0);
        t_skip("strace could not attach (ptrace not permitted here)");
    }
    return tr;
}

static void test_fault_server_dies_mid_wait(void)
{
    static const char *const calls[] = { "sendmsg", "wait4" };
    fsrv_config sub = { t_entry, NULL, FSRV_SUBREAPER };
    const char *e5[] = { "exit", "5", NULL };
    struct pollfd p;
    fsrv_client c;
    pid_t pid, tr, r;
    int st, err, k;
    if (system("strace -V >/dev/null 2>&1") != 0)
        t_skip("strace is not installed");
    for (k = 0; k < 2; k++) {
        CHECK(fsrv_start(&c, &sub) == 0);
        CHECK((pid = t_run(&c, e5, FSRV_ENTRY)) > 0);
        p.fd = fsrv_notify_fd(&c); /* readable once it has exited */
        p.events = POLLIN;
        CHECK(poll(&p, 1, (int)(5000 * t_slow)) == 1);
        tr = tf_kill_at(fsrv_server_pid(&c), calls[k]);
        errno = 0;
        st = -1;
        r = fsrv_waitpid(&c, pid, &st, 0);
        err = errno;
        if (r != pid)
            fprintf(stderr, "    server killed entering %s: fsrv_waitpid "
                    "%d, errno %d (%s)\n", calls[k], (int)r, err,
                    strerror(err));
        CHECK(r == pid && EXITED(st, 5));
        CHECK(fsrv_stop(&c, 0) == 0); /* reaps the server: it is dead */
        CHECK(waitpid(tr, NULL, 0) == tr);
        r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            fprintf(stderr, "    server killed entering %s: the zombie of "
                    "pid %d, whose status fsrv_waitpid returned, is left "
                    "to the caller\n", calls[k], (int)pid);
        CHECK(r == -1 && errno == ECHILD);
    }
}

/* ---- fault_server_dies_mid_reap ------------------------------------------ */

/* As (1) above, for fsrv_reap: strace kills the server as it enters the
   sendmsg of a REAP reply that carries the statuses of three exited
   children.  Under FSRV_SUBREAPER they must still reach the caller,
   through fsrv_reap or fsrv_waitpid, each once.  And with `reuse`, a
   process of the test's own takes the pid of one whose status did not
   come (ns_last_pid): fsrv_kill of that pid must not signal it. */
static void tf_dies_mid_reap(int reuse)
{
    fsrv_config sub = { t_entry, NULL, FSRV_SUBREAPER };
    fsrv_exit ex[8];
    fsrv_client c;
    char code[3][8];
    pid_t pids[3], tr, r;
    int i, j, n, st, got[3] = { 0, 0, 0 };
    double t0;
    CHECK(fsrv_start(&c, &sub) == 0);
    for (i = 0; i < 3; i++) {
        const char *a[] = { "exit", code[i], NULL };
        snprintf(code[i], sizeof code[i], "%d", 5 + i);
        CHECK((pids[i] = t_run(&c, a, FSRV_ENTRY)) > 0);
    }
    t0 = t_now();
    for (i = 0; i < 3; i++)
        while (t_stat(pids[i], NULL) != 'Z') {
            CHECK(t_now() - t0 < 5 * t_slow);
            t_sleep_ms(1);
        }
    tr = tf_kill_at(fsrv_server_pid(&c), "sendmsg");
    for (j = 0; j < 4; j++) { /* whatever reap returns, then asked again */
        n = fsrv_reap(&c, ex, 8);
        CHECK(n >= 0 || errno == ECONNRESET || errno == EPIPE);
        while (n-- > 0)
            for (i = 0; i < 3; i++)
                if (ex[n].pid == pids[i]) {
                    CHECK(!got[i]++ && EXITED(ex[n].status, 5 + i));
                }
    }
    for (i = 0; i < 3; i++) {
        if (got[i])
            continue;
        /* Its status died with the server (the header's LIMITATIONS):
           the pid is refused from now on, never guessed at. */
        errno = 0;
        r = fsrv_waitpid(&c, pids[i], &st, WNOHANG);
        if (r != -1 || (errno != ECONNRESET && errno != EPIPE))
            fprintf(stderr, "    server killed sending a REAP reply: pid "
                    "%d: fsrv_waitpid %d, errno %d (%s)\n", (int)pids[i],
                    (int)r, errno, strerror(errno));
        CHECK(r == -1 && (errno == ECONNRESET || errno == EPIPE));
    }
    /* A pid whose status was lost is free: if a process of ours takes it,
       the library must not take that process for the child. */
    for (i = 0; i < 3 && reuse; i++) {
        pid_t u;
        int p[2];
        if (got[i] || tf_set_last_pid(pids[i] - 1) < 0)
            continue;
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        CHECK((u = fork()) >= 0);
        if (u == 0) {
            char x;
            close(p[1]);
            while (read(p[0], &x, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        close(p[0]);
        if (u == pids[i]) {
            errno = 0;
            r = fsrv_kill(&c, u, SIGKILL);
            if (r == 0)
                fprintf(stderr, "    fsrv_kill of lost pid %d signalled a "
                        "process of the caller's own that took it\n",
                        (int)u);
            CHECK(r == -1 && (errno == ESRCH || errno == ECONNRESET ||
                              errno == EPIPE));
        }
        close(p[1]);
        CHECK(waitpid(u, &st, 0) == u);
        if (u == pids[i]) {
            CHECK(EXITED(st, 0));
            break;
        }
    }
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(waitpid(tr, NULL, 0) == tr);
    while (waitpid(-1, NULL, WNOHANG) > 0) /* lost ones left to us */
        ;
}

/* The pid reuse needs ns_last_pid, hence root and, so as to touch only a
   namespace of its own, a new pid namespace; and a new mount namespace
   (private, so nothing propagates out) where /proc shows that pid
   namespace, for strace's TracerPid and the children's states. */
static void test_fault_server_dies_mid_reap(void)
{
    pid_t init;
    int st;
    if (system("strace -V >/dev/null 2>&1") != 0)
        t_skip("strace is not installed");
    if (geteuid() != 0 || unshare(CLONE_NEWPID | CLONE_NEWNS) < 0) {
        tf_dies_mid_reap(0);
        return;
    }
    fflush(NULL);
    CHECK((init = fork()) >= 0);
    if (init == 0) {
        /* (the type is ignored; valgrind wants a string there) */
        CHECK(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0);
        CHECK(mount("proc", "/proc", "proc", 0, NULL) == 0);
        tf_dies_mid_reap(1);
        fflush(NULL);
        _exit(0);
    }
    CHECK(waitpid(init, &st, 0) == init);
    if (!WIFEXITED(st))
        fprintf(stderr, "    the namespace's init: status %#x\n", st);
    CHECK(WIFEXITED(st));
    fflush(NULL);
    _exit(WEXITSTATUS(st)); /* its pass, failure or skip is ours */
}

/* ---- fault_pid_reuse ----------------------------------------------------- */

/* Pids reused on purpose (root: ns_last_pid, see test_fault_pid_reuse):
   an unrelated process of the test's own on the pid of a reaped server
   child is out of the library's reach (fsrv_kill ESRCH, fsrv_waitpid
   ECHILD, and its status is the signal the test sends it); a new server
   child on the pid of one whose status was taken (by a wait, a wait that
   raced a blocked waiter, or a reap) never gets that status, and its own
   comes through. */

static int tf_set_last_pid(pid_t v)
{
    char b[32];
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC), n;
    ssize_t w;
    if (fd < 0)
        return -1;
    n = snprintf(b, sizeof b, "%d", (int)v);
    w = write(fd, b, (size_t)n);
    close(fd);
    return w == n ? 0 : -1;
}

/* Our child, not exited?  Asked of the kernel, not /proc: in a pid
   namespace of our own, /proc shows the outer namespace's pids. */
static int tf_running_child(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == 0;
}

struct tf_pr_waiter { fsrv_client *c; pid_t pid; pid_t r; int st, err; };

static void *tf_pr_wait(void *arg)
{
    struct tf_pr_waiter *w = (struct tf_pr_waiter *)arg;
    w->r = fsrv_waitpid(w->c, w->pid, &w->st, 0);
    w->err = errno;
    return NULL;
}

/* Collects the status of server child b in one of three ways; returns
   the status taken. */
static int tf_pr_collect(fsrv_client *c, pid_t b, int how)
{
    struct tf_pr_waiter w;
    fsrv_exit ex[4];
    pthread_t th;
    int st = -1, n;
    pid_t r;
    switch (how) {
    case 0:
        return t_wait(c, b);
    case 1: /* a blocked waiter, and a WNOHANG wait that races it */
        w.c = c;
        w.pid = b;
        CHECK(pthread_create(&th, NULL, tf_pr_wait, &w) == 0);
        t_sleep_ms(20);
        CHECK(fsrv_kill(c, b, SIGTERM) == 0);
        while ((r = fsrv_waitpid(c, b, &st, WNOHANG)) == 0)
            t_sleep_ms(1);
        CHECK(pthread_join(th, NULL) == 0);
        /* exactly one of the two got it */
        if (r == b) {
            CHECK(w.r == -1 && w.err == ECHILD);
            return st;
        }
        CHECK(r == -1 && errno == ECHILD && w.r == b);
        return w.st;
    default:
        for (;;) {
            CHECK((n = fsrv_reap(c, ex, 4)) >= 0);
            if (n)
                break;
            t_sleep_ms(1);
        }
        CHECK(n == 1 && ex[0].pid == b);
        return ex[0].status;
    }
}

static void tf_pid_reuse(void)
{
    const char *e7[] = { "exit", "7", NULL };
    const char *e11[] = { "exit", "11", NULL };
    const char *sl[] = { "sleep", "100000", NULL };
    fsrv_client c;
    fsrv_exit ex[4];
    int p[2], st, tries, how;
    pid_t a = 0, u = -1, b, n = -1;
    if (tf_set_last_pid(getpid()) < 0) /* harmless: already taken */
        t_skip("cannot write /proc/sys/kernel/ns_last_pid");
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    t_start(&c);

    /* 1. The pid of a reaped server child, taken by a process of ours that
       leads its own group: out of the library's reach. */
    for (tries = 0; u != a; tries++) {
        CHECK(tries < 50); /* retried only if something else took it */
        if (u > 0) {
            kill(u, SIGKILL);
            CHECK(waitpid(u, NULL, 0) == u);
        }
        CHECK((a = t_run(&c, e7, FSRV_ENTRY)) > 2);
        CHECK(EXITED(t_wait(&c, a), 7));
        CHECK(tf_set_last_pid(a - 1) == 0);
        CHECK((u = fork()) >= 0);
        if (u == 0) {
            char x;
            setpgid(0, 0);
            close(p[1]);
            while (read(p[0], &x, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        setpgid(u, u);
    }
    CHECK(tf_running_child(u));
    CHECK_ERR(fsrv_kill(&c, a, SIGKILL), ESRCH);
    CHECK_ERR(fsrv_kill(&c, a, 0), ESRCH);
    CHECK_ERR(fsrv_kill(&c, -a, SIGKILL), ESRCH);
    CHECK_ERR(fsrv_waitpid(&c, a, &st, WNOHANG), ECHILD);
    CHECK_ERR(fsrv_waitpid(&c, a, &st, 0), ECHILD);
    CHECK(fsrv_reap(&c, ex, 4) == 0);
    CHECK(tf_running_child(u));
    /* Its status is the signal we send now, nobody's before. */
    CHECK(kill(u, SIGTERM) == 0);
    CHECK(waitpid(u, &st, 0) == u && KILLED(st, SIGTERM));

    /* 2. A new server child on the pid of one whose status was taken by a
       wait, by a wait racing a blocked waiter, or by a reap: it never
       gets that status, and its own reaches us. */
    for (how = 0; how < 3; how++) {
        for (tries = 0; ; tries++) {
            CHECK(tries < 50);
            CHECK((b = t_run(&c, how == 1 ? sl : e11, FSRV_ENTRY)) > 2);
            st = tf_pr_collect(&c, b, how);
            CHECK(how == 1 ? KILLED(st, SIGTERM) : EXITED(st, 11));
            CHECK(tf_set_last_pid(b - 1) == 0);
            CHECK((n = t_run(&c, sl, FSRV_ENTRY)) > 0);
            if (n == b)
                break;
            CHECK(fsrv_kill(&c, n, SIGKILL) == 0);
            CHECK(KILLED(t_wait(&c, n), SIGKILL));
        }
        st = 12345;
        CHECK(fsrv_waitpid(&c, n, &st, WNOHANG) == 0 && st == 12345);
        CHECK(fsrv_reap(&c, ex, 4) == 0);
        CHECK(fsrv_kill(&c, n, SIGUSR1) == 0);
        CHECK(KILLED(t_wait(&c, n), SIGUSR1));
        CHECK_ERR(fsrv_waitpid(&c, n, &st, WNOHANG), ECHILD);
    }
    CHECK(fsrv_stop(&c, 0) == 0);
    close(p[0]);
    close(p[1]);
}

/* ns_last_pid names the pid the next fork in the writer's pid namespace
   gets, if free.  In the machine's namespace any other process may fork in
   between, so the test first makes a pid namespace of its own (unshare;
   its first child is that namespace's init, and everything the test starts
   lives in it): there nothing forks but the test and its server, and a pid
   aimed at is taken at the first try.  Without CLONE_NEWPID it runs in the
   machine's namespace and retries. */
static void test_fault_pid_reuse(void)
{
    pid_t init;
    int st;
    if (geteuid() != 0)
        t_skip("needs root to write /proc/sys/kernel/ns_last_pid");
    if (unshare(CLONE_NEWPID) < 0) {
        tf_pid_reuse();
        return;
    }
    fflush(NULL);
    CHECK((init = fork()) >= 0);
    if (init == 0) {
        tf_pid_reuse();
        fflush(NULL);
        _exit(0);
    }
    CHECK(waitpid(init, &st, 0) == init);
    if (!WIFEXITED(st))
        fprintf(stderr, "    the namespace's init: status %#x\n", st);
    CHECK(WIFEXITED(st));
    fflush(NULL);
    _exit(WEXITSTATUS(st)); /* its pass, failure or skip is ours */
}

/* ---- fault_signal_hostility ---------------------------------------------- */

/* (a) a 50 us SIGALRM whose handler has no SA_RESTART, during 8-thread
   traffic: no call fails, none with EINTR, every status reaches the thread
   that launched the child, once (a second wait gets ECHILD);
   (b) the caller's SIGCHLD ignored, SA_NOCLDWAIT, blocked, or all of it,
   before fsrv_start: every status still arrives, by wait and by reap;
   (c) a thread of the caller's reaping with waitpid(-1) and forking its
   own children during the traffic: it gets exactly its own, the library's
   callers all theirs. */

static __thread int tf_sig_mine; /* timer signals this thread took */
static int tf_sig_total;

static void tf_on_alarm(int sig)
{
    (void)sig;
    tf_sig_mine++;
    __atomic_add_fetch(&tf_sig_total, 1, __ATOMIC_RELAXED);
}

struct tf_sh { fsrv_client *c; int id, rounds, sigs; };

/* Launch/wait traffic where every call must succeed: exit codes of this
   thread's own, WNOHANG polls, kills; every status comes once. */
static void *tf_sh_main(void *arg)
{
    struct tf_sh *w = (struct tf_sh *)arg;
    sigset_t alrm;
    int i;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
    for (i = 0; i < w->rounds; i++) {
        char code[16], cmd[32];
        const char *ex[] = { "exit", code, NULL };
        const char *sl[] = { "sleep", "2", NULL };
        const char *lng[] = { "sleep", "100000", NULL };
        const char *sh[] = { "/bin/sh", "-c", cmd, NULL };
        int want = (w->id * 37 + i) % 250 + 1, st = -1;
        pid_t pid, r;
        snprintf(code, sizeof code, "%d", want);
        snprintf(cmd, sizeof cmd, "exit %d", want);
        switch (i % 4) {
        case 0:
            CHECK((pid = t_run(w->c, ex, FSRV_ENTRY)) > 0);
            CHECK(EXITED(t_wait(w->c, pid), want));
            break;
        case 1:
            CHECK((pid = t_run(w->c, sl, FSRV_ENTRY)) > 0);
            while ((r = fsrv_waitpid(w->c, pid, &st, WNOHANG)) == 0)
                ;
            CHECK(r == pid && EXITED(st, 0));
            break;
        case 2:
            CHECK((pid = t_run(w->c, lng, FSRV_ENTRY)) > 0);
            CHECK(fsrv_kill(w->c, pid, SIGTERM) == 0);
            CHECK(KILLED(t_wait(w->c, pid), SIGTERM));
            break;
        default:
            if (i % 16 == 3) {
                CHECK((pid = t_run(w->c, sh, 0)) > 0);
            } else {
                CHECK((pid = t_run(w->c, ex, FSRV_ENTRY)) > 0);
            }
            CHECK(EXITED(t_wait(w->c, pid), want));
        }
        CHECK_ERR(fsrv_waitpid(w->c, pid, &st, i % 2 ? WNOHANG : 0),
                  ECHILD);
    }
    w->sigs = tf_sig_mine;
    return NULL;
}

/* (b): the caller's SIGCHLD state at fsrv_start, in a process of its own */
static void tf_sh_parent_case(int how)
{
    const char *e5[] = { "exit", "5", NULL };
    const char *rt[] = { "raise", "15", NULL };
    const char *sh6[] = { "/bin/sh", "-c", "exit 6", NULL };
    const char *sl[] = { "sleep", "100000", NULL };
    struct sigaction sa;
    fsrv_client c;
    fsrv_exit ex[32];
    struct pollfd p;
    pid_t pids[4], batch[20];
    int i, n, got = 0, seen[20];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = how == 1 ? tf_on_alarm : SIG_IGN;
    if (how == 2)
        sa.sa_handler = SIG_DFL;
    if (how >= 1 && how != 3)
        sa.sa_flags = SA_NOCLDWAIT;
    if (how != 3)
        CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    if (how >= 3) {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        CHECK(sigprocmask(SIG_BLOCK, &chld, NULL) == 0);
    }
    t_start(&c);
    CHECK((pids[0] = t_run(&c, e5, FSRV_ENTRY)) > 0);
    CHECK((pids[1] = t_run(&c, rt, FSRV_ENTRY)) > 0);
    CHECK((pids[2] = t_run(&c, sh6, 0)) > 0);
    CHECK((pids[3] = t_run(&c, sl, FSRV_ENTRY)) > 0);
    CHECK(fsrv_kill(&c, pids[3], SIGKILL) == 0);
    CHECK(EXITED(t_wait(&c, pids[0]), 5));
    CHECK(KILLED(t_wait(&c, pids[1]), SIGTERM));
    CHECK(EXITED(t_wait(&c, pids[2]), 6));
    CHECK(KILLED(t_wait(&c, pids[3]), SIGKILL));
    /* and through the notify fd and fsrv_reap */
    for (i = 0; i < 20; i++) {
        char code[8];
        const char *ea[] = { "exit", code, NULL };
        snprintf(code, sizeof code, "%d", 20 + i);
        CHECK((batch[i] = t_run(&c, ea, FSRV_ENTRY)) > 0);
        seen[i] = 0;
    }
    p.fd = fsrv_notify_fd(&c);
    p.events = POLLIN;
    while (got < 20) {
        char b[64];
        CHECK(poll(&p, 1, (int)(5000 * t_slow)) == 1);
        while (read(p.fd, b, sizeof b) > 0)
            ;
        CHECK((n = fsrv_reap(&c, ex, 32)) >= 0);
        while (n-- > 0)
            for (i = 0; i < 20; i++)
                if (ex[n].pid == batch[i]) {
                    CHECK(!seen[i]++ && EXITED(ex[n].status, 20 + i));
                    got++;
                }
    }
    CHECK(fsrv_reap(&c, ex, 32) == 0);
    CHECK(fsrv_stop(&c, 0) == 0);
}

/* (c): another part of the program reaps with waitpid(-1) */
struct tf_rp {
    int stop, bad, forked, reaped;
    pid_t own[4096];
    int code[4096], done[4096];
    char why[160];
};

static void *tf_rp_main(void *arg)
{
    struct tf_rp *rp = (struct tf_rp *)arg;
    int out = 0;
    while (!__atomic_load_n(&rp->stop, __ATOMIC_SEQ_CST) || out > 0) {
        int st, i;
        pid_t w;
        if (!__atomic_load_n(&rp->stop, __ATOMIC_SEQ_CST) && out < 4 &&
            rp->forked < 4096) {
            int code = rp->forked % 200 + 1;
            pid_t p = fork();
            if (p == 0)
                _exit(code);
            if (p < 0) {
                snprintf(rp->why, sizeof rp->why, "fork: %s",
                         strerror(errno));
                rp->bad++;
                return NULL;
            }
            rp->own[rp->forked] = p;
            rp->code[rp->forked++] = code;
            out++;
        }
        /* blocking only while one of its own is out: the server, also
           our child, does not exit before the end */
        w = waitpid(-1, &st, out && rp->forked % 2 ? 0 : WNOHANG);
        if (w == 0) {
            t_sleep_ms(0);
            continue;
        }
        if (w < 0) {
            if (errno != EINTR) {
                snprintf(rp->why, sizeof rp->why, "waitpid(-1): %s",
                         strerror(errno));
                rp->bad++;
                return NULL;
            }
            continue;
        }
        for (i = 0; i < rp->forked && rp->own[i] != w; i++)
            ;
        if (i == rp->forked || rp->done[i]++ ||
            !EXITED(st, rp->code[i])) {
            snprintf(rp->why, sizeof rp->why, "waitpid(-1) got pid %d, "
                     "status %#x: not one of its own", (int)w, st);
            rp->bad++;
            return NULL;
        }
        rp->reaped++;
        out--;
    }
    return NULL;
}

static void test_fault_signal_hostility(void)
{
    enum { T = 8 };
    struct tf_sh w[T];
    pthread_t th[T], rth;
    struct sigaction sa;
    struct itimerval it;
    sigset_t alrm;
    static struct tf_rp rp;
    fsrv_client c;
    fsrv_exit ex[8];
    int i, st, how;

    /* (b) SIGCHLD ignored, SA_NOCLDWAIT (with a handler or without),
       blocked, or all of it, before fsrv_start */
    for (how = 0; how < 5; how++) {
        pid_t p;
        fflush(NULL);
        CHECK((p = fork()) >= 0);
        if (p == 0) {
            tf_sh_parent_case(how);
            fflush(NULL);
            _exit(0);
        }
        CHECK(waitpid(p, &st, 0) == p);
        if (!EXITED(st, 0))
            fprintf(stderr, "    parent case %d: status %#x\n", how, st);
        CHECK(EXITED(st, 0));
    }

    /* (c) a thread reaping with waitpid(-1) and forking its own while the
       library's traffic goes on: it gets its own children, each once,
       and no status of a server child is ever its */
    t_start(&c);
    CHECK(pthread_create(&rth, NULL, tf_rp_main, &rp) == 0);
    for (i = 0; i < 4; i++) {
        w[i].c = &c;
        w[i].id = 10 + i;
        w[i].rounds = tf_scaled(64, 16);
        CHECK(pthread_create(&th[i], NULL, tf_sh_main, &w[i]) == 0);
    }
    for (i = 0; i < 4; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    __atomic_store_n(&rp.stop, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(rth, NULL) == 0);
    if (rp.bad)
        fprintf(stderr, "    reaper thread: %s\n", rp.why);
    CHECK(rp.bad == 0 && rp.forked > 0 && rp.reaped == rp.forked);
    CHECK(fsrv_reap(&c, ex, 8) == 0);
    CHECK(fsrv_stop(&c, 0) == 0);

    /* (a) SIGALRM every 50 us, its handler without SA_RESTART, from
       before fsrv_start to after fsrv_stop.  The main thread blocks it
       while the workers run, so that it lands in the library's calls.
       Last, and the handler stays: under valgrind a signal may still
       come after the timer is off, and would kill at SIG_DFL. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tf_on_alarm;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    it.it_interval.tv_sec = it.it_value.tv_sec = 0;
    it.it_interval.tv_usec = it.it_value.tv_usec = 50;
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    t_start(&c);
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    CHECK(pthread_sigmask(SIG_BLOCK, &alrm, NULL) == 0);
    for (i = 0; i < T; i++) {
        w[i].c = &c;
        w[i].id = i;
        w[i].rounds = tf_scaled(64, 16);
        w[i].sigs = 0;
        CHECK(pthread_create(&th[i], NULL, tf_sh_main, &w[i]) == 0);
    }
    for (i = 0; i < T; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    CHECK(pthread_sigmask(SIG_UNBLOCK, &alrm, NULL) == 0);
    CHECK(fsrv_reap(&c, ex, 8) == 0); /* nothing left over */
    CHECK(fsrv_stop(&c, 0) == 0);
    memset(&it, 0, sizeof it);
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    /* the storm did hit the calls: every worker took signals */
    for (i = 0; i < T; i++)
        CHECK(w[i].sigs > 0);
    CHECK(__atomic_load_n(&tf_sig_total, __ATOMIC_RELAXED) >= 100);
}

/* ---- fault_leaks --------------------------------------------------------- */

/* Under TSan the server carries TSan's runtime, which maps bookkeeping of
   its own as it goes; under valgrind it is valgrind's process.  There the
   server's memory is not the library's, and only its fds are counted. */
#if defined(__SANITIZE_THREAD__)
#define TF_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TF_TSAN 1
#endif
#endif
#ifndef TF_TSAN
#define TF_TSAN 0
#endif

static int tf_own_memory(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return !TF_TSAN && !(pre && strstr(pre, "vgpreload"));
}

/* A field of /proc/PID/status, in kB. */
static long tf_status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    size_t kl = strlen(key);
    long v = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    CHECK((f = fopen(path, "r")) != NULL);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':')
            v = atol(line + kl + 1);
    fclose(f);
    CHECK(v >= 0);
    return v;
}

struct tf_out { pid_t pid; int code, done; };

/* Reaps every child in out[] with fsrv_reap, checking each status. */
static void tf_leaks_reap(fsrv_client *c, struct tf_out *out, int *nout)
{
    fsrv_exit ex[64];
    int left = *nout, n, i, j;
    double t0 = t_now();
    while (left > 0) {
        CHECK((n = fsrv_reap(c, ex, 64)) >= 0);
        for (i = 0; i < n; i++) {
            for (j = 0; j < *nout && out[j].pid != ex[i].pid; j++)
                ;
            CHECK(j < *nout && !out[j].done++);
            CHECK(EXITED(ex[i].status, out[j].code));
            left--;
        }
        if (!n) {
            CHECK(t_now() - t0 < 10 * t_slow);
            t_sleep_ms(0);
        }
    }
    *nout = 0;
}

static void test_fault_leaks(void)
{
    static char bigarg[80 * 1024]; /* past FSRV_MSG_MAX: the memfd path */
    const char *enoent[] = { "/nonexistent-fsrv/prog", NULL };
    const char *tru[] = { "/bin/true", NULL };
    const char *big[] = { "exit", "9", bigarg, NULL };
    struct tf_out out[64];
    fsrv_client c;
    fsrv_launch_opts o;
    fsrv_fd m;
    char file[PATH_MAX + 16], code[16];
    const char *ex[] = { "exit", code, NULL };
    int i, n, nout = 0, cfds0 = 0, sfds0 = 0, notopen, p[2], pidfd, st;
    long data0 = 0, rss0 = 0, data1, rss1;
    pid_t server, pid, r;
    memset(bigarg, 'b', sizeof bigarg - 1);
    snprintf(file, sizeof file, "%s/file", t_dir);
    t_write_file(file, "", 0644);
    for (notopen = 900; fcntl(notopen, F_GETFD) >= 0; notopen++)
        ;
    t_start(&c);
    server = fsrv_server_pid(&c);
    /* 50,000 cycles, each one launch: 1 in 4 starts a child that is
       reaped (in batches, or waited for, with a pidfd, a mapped fd or
       polling, then asked about again for ECHILD and ESRCH); the rest
       fail in the server's child (ENOENT, EBADF, ENOTDIR), in the server
       (EINVAL) or in the client (EBADF, EINVAL, ENOENT); now and then a
       launch too big for one datagram.  Under the sanitizers and valgrind
       the count is divided by FSRV_TEST_SLOW. */
    n = tf_scaled(50000, 2048);
    for (i = 0; i < n; i++) {
        if (i == 1024) {
            /* after every path has run at least once: the baseline */
            CHECK(nout == 0);
            cfds0 = t_count_fds(getpid());
            sfds0 = t_count_fds(server);
            data0 = tf_status_kb(server, "VmData");
            rss0 = tf_status_kb(server, "VmRSS");
        }
        memset(&o, 0, sizeof o);
        o.fds = &m;
        snprintf(code, sizeof code, "%d", i & 127);
        switch (i % 8) {
        case 0:
            CHECK((pid = t_run(&c, ex, FSRV_ENTRY)) > 0);
            out[nout].pid = pid;
            out[nout].code = i & 127;
            out[nout++].done = 0;
            if (nout == 64)
                tf_leaks_reap(&c, out, &nout);
            break;
        case 1:
            o.flags = FSRV_ENTRY;
            pidfd = -1;
            switch (i / 8 % 4) {
            case 1:
                o.pidfd = &pidfd;
                break;
            case 2:
                CHECK(pipe2(p, O_CLOEXEC) == 0);
                m.parent_fd = p[1];
                m.child_fd = 1;
                o.nfds = 1;
                break;
            }
            CHECK((pid = fsrv_launch(&c, (char *const *)ex, NULL, &o)) > 0);
            if (o.nfds) {
                close(p[0]);
                close(p[1]);
            }
            if (pidfd >= 0)
                close(pidfd);
            if (i / 8 % 4 == 3) {
                while ((r = fsrv_waitpid(&c, pid, &st, WNOHANG)) == 0)
                    ;
                CHECK(r == pid);
            } else {
                st = t_wait(&c, pid);
            }
            CHECK(EXITED(st, i & 127));
            /* asked again before anything else can have its pid */
            CHECK_ERR(fsrv_waitpid(&c, pid, &st, i / 32 % 2 ? WNOHANG : 0),
                      ECHILD);
            CHECK_ERR(fsrv_kill(&c, pid, SIGKILL), ESRCH);
            break;
        case 2:
            CHECK_ERR(t_run(&c, enoent, 0), ENOENT);
            break;
        case 3: /* in the child: a target beyond RLIMIT_NOFILE */
            m.parent_fd = 1;
            m.child_fd = 1 << 30;
            o.nfds = 1;
            CHECK_ERR(fsrv_launch(&c, (char *const *)tru, NULL, &o), EBADF);
            break;
        case 4: /* in the client: a source that is not open */
            m.parent_fd = notopen;
            m.child_fd = 5;
            o.nfds = 1;
            CHECK_ERR(fsrv_launch(&c, (char *const *)tru, NULL, &o), EBADF);
            CHECK_ERR(fsrv_waitpid(&c, getpid(), &st, WNOHANG), ECHILD);
            CHECK_ERR(fsrv_kill(&c, getpid(), 0), ESRCH);
            break;
        case 5: /* in the server */
            CHECK_ERR(t_run(&c, ex, FSRV_ENTRY | FSRV_SETSID | FSRV_SETPGID),
                      EINVAL);
            break;
        case 6:
            if (i / 8 % 2) {
                CHECK_ERR(t_run(&c, ex, 0x4000), EINVAL);
            } else {
                o.cwd = file; /* not a directory: fchdir in the child */
                CHECK_ERR(fsrv_launch(&c, (char *const *)tru, NULL, &o),
                          ENOTDIR);
            }
            break;
        default:
            if (i / 8 % 128 == 0) {
                CHECK((pid = t_run(&c, big, FSRV_ENTRY)) > 0);
                CHECK(EXITED(t_wait(&c, pid), 9));
            } else {
                o.cwd = "missing-dir"; /* open fails in the client */
                CHECK_ERR(fsrv_launch(&c, (char *const *)tru, NULL, &o),
                          ENOENT);
            }
        }
    }
    tf_leaks_reap(&c, out, &nout);
    CHECK(t_children(server, 0) == 0);
    data1 = tf_status_kb(server, "VmData");
    rss1 = tf_status_kb(server, "VmRSS");
    if (t_count_fds(getpid()) != cfds0 || t_count_fds(server) != sfds0 ||
        data1 != data0 || rss1 > rss0 + 64 || getenv("FSRV_TEST_VERBOSE"))
        fprintf(stderr, "    client fds %d -> %d, server fds %d -> %d, "
                "server VmData %ld -> %ld kB, VmRSS %ld -> %ld kB\n",
                cfds0, t_count_fds(getpid()), sfds0, t_count_fds(server),
                data0, data1, rss0, rss1);
    CHECK(t_count_fds(getpid()) == cfds0);
    CHECK(t_count_fds(server) == sfds0);
    /* The server has no heap: its data is static, its stack and what it
       maps for a big launch's body.  A body left mapped would grow VmData
       by its size, so VmData must not move at all.  VmRSS may grow only by
       pages of the static buffers and stack that no earlier cycle touched;
       64 kB (16 pages) is less than one leaked 80 kB body. */
    CHECK(data1 == data0 || !tf_own_memory());
    CHECK(rss1 <= rss0 + 64 || !tf_own_memory());
    CHECK(fsrv_stop(&c, 0) == 0);
}

/* ---- fault_trust --------------------------------------------------------- */

/* No child holds the channel or the notify pipe, entry or exec'd, from a
   server of fsrv_start or an exec'd one: seen from inside (the "fds" entry
   mode lists its fds with their device and inode; t_exe --list-fds), from
   outside (/proc/PID/fd of a live child), and by writing to the numbers
   the server has them at (EBADF).  The objects are compared, not only the
   numbers, so a leaked end is found wherever it lands; and two negative
   controls show that a held end, and an open fd at such a number, are
   seen. */

/* The objects no child may hold: the server's channel end and notify
   write end (its fds above 2, read through /proc), and the client's
   ends.  num[] are the server's fd numbers for them. */
struct tf_ids {
    unsigned long long dev[8], ino[8];
    int n, num[8], nnum;
};

static void tf_ids_add(struct tf_ids *ids, const struct stat *st)
{
    CHECK(ids->n < 8);
    ids->dev[ids->n] = (unsigned long long)st->st_dev;
    ids->ino[ids->n++] = (unsigned long long)st->st_ino;
}

static void tf_forbidden(fsrv_client *c, struct tf_ids *ids)
{
    char dir[64], path[128];
    struct dirent *e;
    struct stat st;
    DIR *d;
    memset(ids, 0, sizeof *ids);
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)fsrv_server_pid(c));
    CHECK((d = opendir(dir)) != NULL);
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd < 3 || !tf_program_fd(fd))
            continue;
        snprintf(path, sizeof path, "%s/%d", dir, fd);
        CHECK(stat(path, &st) == 0);
        tf_ids_add(ids, &st);
        ids->num[ids->nnum++] = fd;
    }
    closedir(d);
    CHECK(ids->nnum == 2); /* the channel and the notify pipe */
    CHECK(fstat(c->channel, &st) == 0);
    tf_ids_add(ids, &st);
    CHECK(fstat(c->notify, &st) == 0);
    tf_ids_add(ids, &st);
}

static int tf_forbidden_obj(const struct tf_ids *ids, unsigned long long dev,
                            unsigned long long ino)
{
    int i;
    for (i = 0; i < ids->n; i++)
        if (ids->dev[i] == dev && ids->ino[i] == ino)
            return 1;
    return 0;
}

static int tf_allowed(int fd, const int *ok, int nok)
{
    int i;
    if (fd >= 0 && fd <= 2)
        return 1;
    for (i = 0; i < nok; i++)
        if (ok[i] == fd)
            return 1;
    return 0;
}

/* The outside view: /proc/PID/fd of a live child.  Returns how many of
   its fds are not allowed or are a forbidden object (and says which). */
static int tf_child_fds(pid_t pid, const struct tf_ids *ids, const int *ok,
                        int nok)
{
    char dir[64], path[128];
    struct dirent *e;
    struct stat st;
    DIR *d;
    int bad = 0;
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    CHECK((d = opendir(dir)) != NULL);
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || !tf_program_fd(fd))
            continue;
        snprintf(path, sizeof path, "%s/%d", dir, fd);
        CHECK(stat(path, &st) == 0);
        if (!tf_allowed(fd, ok, nok) ||
            tf_forbidden_obj(ids, (unsigned long long)st.st_dev,
                             (unsigned long long)st.st_ino)) {
            fprintf(stderr, "    child %d holds fd %d (%llu:%llu)\n",
                    (int)pid, fd, (unsigned long long)st.st_dev,
                    (unsigned long long)st.st_ino);
            bad++;
        }
    }
    closedir(d);
    return bad;
}

/* The inside view: the lines of the "fds" entry mode. */
static int tf_child_says(const char *out, const struct tf_ids *ids,
                         const int *ok, int nok, int open_fd, int quiet)
{
    const char *l;
    int bad = 0, nfd = 0, nprobe = 0;
    for (l = out; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
        unsigned long long dev, ino;
        int fd, err;
        if (sscanf(l, "fd %d %llu %llu", &fd, &dev, &ino) == 3) {
            nfd++;
            if (tf_allowed(fd, ok, nok) && !tf_forbidden_obj(ids, dev, ino))
                continue;
            if (!quiet)
                fprintf(stderr, "    the child says it holds fd %d "
                        "(%llu:%llu)\n", fd, dev, ino);
            bad++;
        } else if (sscanf(l, "probe %d %d", &fd, &err) == 2) {
            nprobe++;
            if (fd == open_fd ? err == 0 : err == EBADF)
                continue;
            if (!quiet)
                fprintf(stderr, "    the child's write to fd %d: errno "
                        "%d\n", fd, err);
            bad++;
        }
    }
    CHECK(nfd >= 3 && nprobe > 0); /* it did report */
    return bad;
}

/* Runs argv with stdout on a pipe plus the maps, returns its output. */
static char *tf_run_output(fsrv_client *c, const char *const *argv,
                           unsigned flags, fsrv_fd *extra, int nextra)
{
    static char buf[1 << 16];
    fsrv_fd m[8];
    fsrv_launch_opts o;
    int p[2], i;
    pid_t pid;
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    m[0].parent_fd = p[1];
    m[0].child_fd = 1;
    for (i = 0; i < nextra; i++)
        m[1 + i] = extra[i];
    memset(&o, 0, sizeof o);
    o.fds = m;
    o.nfds = 1 + nextra;
    o.flags = flags;
    CHECK((pid = fsrv_launch(c, (char *const *)argv, NULL, &o)) > 0);
    close(p[1]);
    tf_read_all(p[0], buf, sizeof buf);
    close(p[0]);
    CHECK(EXITED(t_wait(c, pid), 0));
    return buf;
}

/* A child that blocks reading fd 0 until we close its pipe: looked at from
   outside while it runs. */
static int tf_look_at_child(fsrv_client *c, const char *const *argv,
                            unsigned flags, const struct tf_ids *ids,
                            fsrv_fd *extra, int nextra, int exit_code)
{
    fsrv_fd m[8];
    fsrv_launch_opts o;
    int in[2], out[2], i, ok[8], bad;
    char b[8];
    pid_t pid;
    CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
    m[0].parent_fd = in[0];
    m[0].child_fd = 0;
    m[1].parent_fd = out[1];
    m[1].child_fd = 1;
    for (i = 0; i < nextra; i++) {
        m[2 + i] = extra[i];
        ok[i] = extra[i].child_fd;
    }
    memset(&o, 0, sizeof o);
    o.fds = m;
    o.nfds = 2 + nextra;
    o.flags = flags;
    CHECK((pid = fsrv_launch(c, (char *const *)argv, NULL, &o)) > 0);
    close(in[0]);
    close(out[1]);
    /* an exec'd child says "r" once its startup is over */
    if (!(flags & FSRV_ENTRY))
        CHECK(read(out[0], b, 2) == 2);
    bad = tf_child_fds(pid, ids, ok, nextra);
    close(in[1]);
    close(out[0]);
    CHECK(EXITED(t_wait(c, pid), exit_code));
    return bad;
}

static void test_fault_trust(void)
{
    const char *lister[] = { t_exe, "--list-fds", NULL };
    const char *reader[] = { "/bin/sh", "-c", "echo r; read x; exit 0",
                             NULL };
    const char *read0[] = { "read0", NULL };
    char bigpad[70 * 1024], kbuf[2][16], script[256];
    const char *fds[6], *shp[8];
    struct tf_ids ids;
    fsrv_client c;
    fsrv_fd x[2];
    int nul, i, k, p[2], ok7[1] = { 7 }, nsh;
    char *out;
    CHECK((nul = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
    memset(bigpad, 'p', sizeof bigpad - 1);
    bigpad[sizeof bigpad - 1] = 0;
    x[0].parent_fd = nul;
    x[0].child_fd = 7;
    for (k = 0; k < 2; k++) {
        /* the server started by fsrv_start, then one exec'd and
           attached (fsrv_serve): children of both */
        if (k == 0)
            CHECK(fsrv_start(&c, &tf_cfg) == 0);
        else
            CHECK(t_start_execd(&c, &t_cfg) == 0);
        tf_forbidden(&c, &ids);
        /* The numbers the server has them at, and the client's: a child
           that writes there gets EBADF. */
        for (i = 0; i < 2; i++)
            snprintf(kbuf[i], sizeof kbuf[i], "%d", ids.num[i]);

        /* entry child, from inside: its fds and their objects, and the
           probes; also with a body past FSRV_MSG_MAX (the memfd) */
        if (k == 0) {
            fds[0] = "fds";
            fds[1] = kbuf[0];
            fds[2] = kbuf[1];
            fds[3] = NULL;
            out = tf_run_output(&c, fds, FSRV_ENTRY, x, 1);
            CHECK(tf_child_says(out, &ids, ok7, 1, -1, 0) == 0);
            fds[3] = bigpad;
            fds[4] = NULL;
            out = tf_run_output(&c, fds, FSRV_ENTRY, x, 1);
            CHECK(tf_child_says(out, &ids, ok7, 1, -1, 0) == 0);
            /* Negative controls: the client's notify end mapped to 8 is
               seen as a forbidden object, and an fd at the server's notify
               number is seen open.  So a leak could not pass unseen. */
            {
                fsrv_fd y[2];
                int ok78[2] = { 7, 8 };
                CHECK(pipe2(p, O_CLOEXEC) == 0);
                y[0].parent_fd = c.notify;
                y[0].child_fd = 8;
                fds[3] = NULL;
                out = tf_run_output(&c, fds, FSRV_ENTRY, y, 1);
                CHECK(tf_child_says(out, &ids, ok78, 2, -1, 1) == 1);
                y[0].parent_fd = p[1];
                y[0].child_fd = ids.num[1];
                out = tf_run_output(&c, fds, FSRV_ENTRY, y, 1);
                ok78[0] = ids.num[1];
                CHECK(tf_child_says(out, &ids, ok78, 1, ids.num[1], 0) == 0);
                close(p[0]);
                close(p[1]);
            }
        }
        /* entry child, from outside */
        CHECK(tf_look_at_child(&c, read0, FSRV_ENTRY, &ids, x, 1, 3) == 0);
        /* exec'd child: its own list of fds, from inside ... */
        out = tf_run_output(&c, lister, 0, x, 1);
        if (strcmp(out, "0 1 2 7 ") != 0)
            fprintf(stderr, "    exec'd child's fds: %s\n", out);
        CHECK(!strcmp(out, "0 1 2 7 "));
        /* ... from outside, once the shell runs ... */
        CHECK(tf_look_at_child(&c, reader, 0, &ids, x, 1, 0) == 0);
        /* ... and writes to the server's numbers, for those a shell can
           name (dash takes one digit) */
        nsh = 0;
        shp[nsh++] = "/bin/sh";
        shp[nsh++] = "-c";
        shp[nsh++] = script;
        shp[nsh++] = "sh";
        for (i = 0; i < 2; i++)
            if (ids.num[i] < 10 && ids.num[i] != 7)
                shp[nsh++] = kbuf[i];
        shp[nsh] = NULL;
        snprintf(script, sizeof script, "for n; do (echo x >&$n) "
                 "2>/dev/null && echo \"open $n\"; done; exit 0");
        if (nsh > 4) {
            out = tf_run_output(&c, shp, 0, x, 1);
            if (*out)
                fprintf(stderr, "    exec'd child: %s\n", out);
            CHECK(*out == 0);
            /* negative control: with a pipe at that number it writes */
            CHECK(pipe2(p, O_CLOEXEC) == 0);
            {
                fsrv_fd y;
                y.parent_fd = p[1];
                y.child_fd = atoi(shp[4]);
                out = tf_run_output(&c, shp, 0, &y, 1);
                CHECK(strstr(out, "open ") != NULL);
            }
            close(p[0]);
            close(p[1]);
        }
        /* FSRV_INHERIT_FDS passes what is not close-on-exec: never the
           channel or the notify pipe, which are */
        CHECK(dup2(nul, 9) == 9);
        out = tf_run_output(&c, lister, FSRV_INHERIT_FDS, NULL, 0);
        if (strcmp(out, "0 1 2 9 ") != 0)
            fprintf(stderr, "    inheriting child's fds: %s\n", out);
        CHECK(!strcmp(out, "0 1 2 9 "));
        close(9);
        CHECK(fsrv_stop(&c, 0) == 0);
    }
    close(nul);
}

/* ---- the fuzz target (make fuzz) ----------------------------------------- */

#ifdef FSRV_FUZZ
/* libFuzzer feeds fsrv__handle, the server's decoding, one datagram per
   input.  The first byte chooses the fds that come with it, the rest is
   the datagram:
     bits 0-1  0: none; 1: what a LAUNCH header asks for (cwd, a memfd
               body, its mapped fds); 2: that, one more or one fewer
               (bit 2); 3: (bits 2-4) of them, /dev/null, and with bit 5
               the receive flags MSG_TRUNC (odd length) or MSG_CTRUNC
     bit 5     with a memfd body: the body also stays inline
     bit 6     the cwd is /dev/null, not a directory
     bit 7     the rest is not a datagram but a launch to frame (see
               tf_fz_frame), so that inputs reach the body's parsing
   With a memfd body (1 and 2), the memfd holds the bytes past the
   header's body offset and the datagram ends there.

   No input may start a process or signal one:
   - KILL signals only an unreaped child of this process, WAIT and REAP
     reap only its children.  It may have one: the sanitizers start a
     symbolizer to name functions.  A WAIT or KILL naming a child, or a
     REAP while one has exited, is not decoded.
   - A LAUNCH reaches fork only past pipe2 for its error pipe, and while
     the input is decoded RLIMIT_NOFILE leaves exactly one free fd (two
     are needed): pipe2 fails with EMFILE.  One is left so that libFuzzer
     can still write a crash's input to a file.  An entry function that
     aborts stands guard behind that, and so does the list of this
     thread's children, which must not change.
   And each input is checked: every fd handed over is closed when
   fsrv__handle returns (no new fd can take its number meanwhile), the
   server answers with exactly one well-formed reply and parks no waiter;
   else abort(), which libFuzzer reports as a crash. */
static int tf_fz_peer = -1;
static char tf_fz_kids_path[64];

static int tf_fz_never(int argc, char **argv, void *arg)
{
    (void)argc;
    (void)argv;
    (void)arg;
    abort(); /* an entry child: the harness let a launch fork */
}

static const fsrv_config tf_fz_cfg = { tf_fz_never, NULL, 0 };

/* This thread's children, as /proc lists them ("" if it cannot). */
static void tf_fz_kids(char *buf, size_t cap)
{
    int fd = open(tf_fz_kids_path, O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, buf, cap - 1) : 0;
    buf[r > 0 ? r : 0] = 0;
    if (fd >= 0)
        close(fd);
}

/* Could decoding this datagram reach a child of this process? */
static int tf_fz_reaches_child(size_t n)
{
    const fsrv__pid_msg *m = (const fsrv__pid_msg *)(void *)fsrv__s.rx.b;
    siginfo_t si;
    pid_t pid;
    if (n < sizeof(fsrv__hdr))
        return 0;
    memset(&si, 0, sizeof si);
    if (m->h.type == FSRV__REAP)
        return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               si.si_pid != 0;
    if ((m->h.type != FSRV__WAIT && m->h.type != FSRV__KILL) ||
        n != sizeof *m || m->pid == INT_MIN || m->pid == 0)
        return 0;
    pid = m->pid < 0 ? -m->pid : m->pid;
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* Frames a launch: data is flags (bits 0-3 the public ones, 4 ENV,
   5 BODYFD, 6 PIDFD, 7 one more bit from the next byte), argc, envc, the
   number of mapped fds (low 4 bits), their child numbers (a byte each,
   minus 2), then the strings as they are.  The slots are added, body_len
   and the padding are right.  Returns the datagram's length in rx. */
static size_t tf_fz_frame(const uint8_t *data, size_t size)
{
    fsrv__launch_msg *m = (fsrv__launch_msg *)(void *)fsrv__s.rx.b;
    uint32_t flags, nmap, nslot, i;
    size_t off, slots, len;
    if (size < 5)
        return 0;
    flags = data[0] & 0x0f;
    flags |= (data[0] & 0x10) ? FSRV__W_ENV : 0;
    flags |= (data[0] & 0x20) ? FSRV__W_BODYFD : 0;
    flags |= (data[0] & 0x40) ? FSRV__W_PIDFD : 0;
    flags |= (data[0] & 0x80) ? 1u << (data[4] & 31) : 0;
    nmap = data[3] & 15;
    if (size < 5 + nmap)
        return 0;
    memset(m, 0, sizeof *m);
    m->h.type = FSRV__LAUNCH;
    m->h.seq = 7;
    m->flags = flags;
    m->argc = data[1];
    m->envc = data[2];
    m->nfds = nmap;
    for (i = 0; i < nmap; i++) {
        int32_t fd = (int32_t)data[5 + i] - 2;
        memcpy(fsrv__s.rx.b + sizeof *m + 4 * i, &fd, 4);
    }
    off = fsrv__body_off(nmap);
    memset(fsrv__s.rx.b + sizeof *m + 4 * nmap, 0,
           off - sizeof *m - 4 * nmap);
    nslot = m->argc + 1 + ((flags & FSRV__W_ENV) ? m->envc + 1 : 0);
    slots = (size_t)nslot * sizeof(char *);
    data += 5 + nmap;
    size -= 5 + nmap;
    if (off + slots + size > FSRV_MSG_MAX)
        size = FSRV_MSG_MAX - off - slots;
    memset(fsrv__s.rx.b + off, 0, slots);
    memcpy(fsrv__s.rx.b + off + slots, data, size);
    len = off + slots + size;
    m->body_len = (uint32_t)(slots + size);
    return len;
}

static void tf_fz_init(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    tf_fz_peer = sv[0];
    fsrv__s.channel = sv[1];
    fsrv__s.cfg = &tf_fz_cfg;
    fsrv__s.nwait = 0;
    snprintf(tf_fz_kids_path, sizeof tf_fz_kids_path,
             "/proc/self/task/%ld/children", (long)syscall(SYS_gettid));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fsrv__dgram d; /* what the server's receive would make */
    static int *fds = d.fds;
    static char kids0[4096], kids1[4096];
    fsrv__reply rep;
    struct rlimit rl, tight;
    size_t n;
    int mode, nfds = 0, want = 0, i, lowest, replies = 0;
    uint32_t type = 0, seq = 0;
    ssize_t r;
    if (tf_fz_peer < 0)
        tf_fz_init();
    if (size < 1)
        return 0;
    mode = data[0];
    data++;
    size--;
    if (mode & 128) {
        if (!(n = tf_fz_frame(data, size)))
            return 0;
        data = (const uint8_t *)fsrv__s.rx.b; /* for the memfd below */
    } else {
        n = size < FSRV_MSG_MAX ? size : FSRV_MSG_MAX;
        memcpy(fsrv__s.rx.b, data, n);
    }
    if (tf_fz_reaches_child(n))
        return 0;

    /* the fds */
    if ((mode & 3) == 3) {
        want = (mode >> 2) & 7;
    } else if ((mode & 3) && n >= sizeof(fsrv__launch_msg)) {
        const fsrv__launch_msg *m =
            (const fsrv__launch_msg *)(const void *)fsrv__s.rx.b;
        int nbody = (m->flags & FSRV__W_BODYFD) != 0;
        int nmap = m->nfds > FSRV_MAX_FDS ? 0 : (int)m->nfds;
        size_t off = fsrv__body_off((uint32_t)nmap);
        want = 1 + nbody + nmap;
        if ((mode & 3) == 2)
            want += (mode & 4) ? 1 : -1;
        if (want > 0)
            fds[nfds++] = (mode & 64) ? open("/dev/null", O_RDONLY |
                                             O_CLOEXEC)
                                      : open("/", O_PATH | O_DIRECTORY |
                                             O_CLOEXEC);
        if (nbody && want > 1) {
            int mfd = memfd_create("fz", MFD_CLOEXEC);
            if (mfd >= 0 && n > off &&
                write(mfd, data + off, n - off) != (ssize_t)(n - off))
                abort();
            fds[nfds++] = mfd;
            if (!(mode & 32) && n > off)
                n = off;
        }
    }
    while (nfds < want && nfds < FSRV_MAX_FDS + 2)
        fds[nfds++] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (i = 0; i < nfds; i++)
        if (fds[i] < 0)
            abort();
    if (n >= sizeof(fsrv__hdr)) {
        memcpy(&type, fsrv__s.rx.b, 4);
        memcpy(&seq, fsrv__s.rx.b + 4, 4);
    }

    /* no room for a pipe while the server decodes */
    tf_fz_kids(kids0, sizeof kids0);
    if ((lowest = fcntl(0, F_DUPFD_CLOEXEC, 0)) < 0)
        abort();
    close(lowest);
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        abort();
    tight = rl;
    tight.rlim_cur = (rlim_t)lowest + 1;
    if (setrlimit(RLIMIT_NOFILE, &tight) < 0)
        abort();
    d.len = n;
    d.flags = (mode & 35) == 35 ? (n % 2 ? MSG_TRUNC : MSG_CTRUNC) : 0;
    d.nfds = nfds;
    fsrv__handle(&d);
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        abort();
    tf_fz_kids(kids1, sizeof kids1);

    for (i = 0; i < nfds; i++)
        if (fcntl(fds[i], F_GETFD) >= 0) {
            fprintf(stderr, "the server kept fd %d of %d\n", i, nfds);
            abort();
        }
    while ((r = recv(tf_fz_peer, &rep, sizeof rep, MSG_DONTWAIT | MSG_TRUNC))
           >= 0) {
        replies++;
        if (r < (ssize_t)sizeof rep || rep.h.type != (type | FSRV__REPLY) ||
            rep.h.seq != seq || (rep.res < 0 && rep.err <= 0) ||
            (rep.res >= 0 && rep.err != 0)) {
            fprintf(stderr, "bad reply: %zd bytes, type %#x seq %#x res %d "
                    "err %d\n", r, rep.h.type, rep.h.seq, rep.res, rep.err);
            abort();
        }
    }
    if (replies != 1 || fsrv__s.nwait != 0 || strcmp(kids0, kids1) != 0) {
        fprintf(stderr, "%d replies, %d waiters, children \"%s\" -> "
                "\"%s\"\n", replies, fsrv__s.nwait, kids0, kids1);
        abort();
    }
    return 0;
}
#endif /* FSRV_FUZZ */

#define T_FAULT_TESTS \
    { "fault_hostile_datagrams", test_fault_hostile_datagrams, 60 }, \
    { "fault_stray_replies", test_fault_stray_replies, 20 }, \
    { "fault_launch_burst", test_fault_launch_burst, 30 }, \
    { "fault_child_fd_limits", test_fault_child_fd_limits, 20 }, \
    { "fault_server_killed_under_traffic", \
      test_fault_server_killed_under_traffic, 60 }, \
    { "fault_server_dies_mid_wait", test_fault_server_dies_mid_wait, \
      20 }, \
    { "fault_server_dies_mid_reap", test_fault_server_dies_mid_reap, \
      20 }, \
    { "fault_pid_reuse", test_fault_pid_reuse, 20 }, \
    { "fault_signal_hostility", test_fault_signal_hostility, 60 }, \
    { "fault_leaks", test_fault_leaks, 120 }, \
    { "fault_trust", test_fault_trust, 20 },
/* ---- drop-in: exec'd server, event loops, symbols ------------------------ */

/* Runs as an exec'd server: fsrv_serve on fds 3 (channel) and 4 (notify).
   "--serve noentry" serves without an entry function. */
static int t_mode_serve(int argc, char **argv)
{
    static const fsrv_config noentry = { NULL, NULL, 0 };
    struct rlimit rl;
    unsigned fd;
    /* A spawner passes on every fd it had without close-on-exec; a server
       that kept them would hold somebody's pipe open for its whole life,
       so all but stdio and the two ends go before serving. */
    if (syscall(SYS_close_range, 5u, ~0u, 0) < 0 &&
        getrlimit(RLIMIT_NOFILE, &rl) == 0)
        for (fd = 5; fd < rl.rlim_cur && fd < 65536; fd++)
            close((int)fd);
    return fsrv_serve(3, 4, argc > 2 && !strcmp(argv[2], "noentry") ?
                      &noentry : &t_cfg) == 0 ? 0 : 1;
}

/* Starts `t_exe --serve` as the server and attaches c to it.  An exec'd
   server cannot take cfg->entry across exec: with an entry it runs
   t_entry, without one none; FSRV_SUBREAPER is ours to set, as fsrv_start
   sets it, and fsrv_attach finds it. */
static int t_start_execd(fsrv_client *c, const fsrv_config *cfg)
{
    char *argv[] = { t_exe, (char *)"--serve", NULL, NULL };
    posix_spawn_file_actions_t fa;
    int sv[2], np[2], hi[2] = { -1, -1 }, err;
    pid_t pid;
    if (cfg && (cfg->flags & ~FSRV_SUBREAPER)) {
        errno = EINVAL;
        return -1;
    }
    if (!cfg || !cfg->entry)
        argv[2] = (char *)"noentry";
    if (cfg && (cfg->flags & FSRV_SUBREAPER) &&
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    if (pipe2(np, O_CLOEXEC) < 0) {
        err = errno;
        goto fail_sock;
    }
    /* The server's ends go above 4 first: a dup2 onto 3 must not land on
       the other source, and dup2(fd, fd) would leave close-on-exec set
       (older libcs do not clear it in a spawn's file action). */
    hi[0] = fcntl(sv[1], F_DUPFD_CLOEXEC, 5);
    hi[1] = fcntl(np[1], F_DUPFD_CLOEXEC, 5);
    if (hi[0] < 0 || hi[1] < 0) {
        err = errno;
        goto fail_pipe;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, hi[0], 3);
    posix_spawn_file_actions_adddup2(&fa, hi[1], 4);
    err = posix_spawn(&pid, t_exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err)
        goto fail_pipe;
    close(hi[0]);
    close(hi[1]);
    close(sv[1]);
    close(np[1]);
    if (fsrv_attach(c, sv[0], np[0], pid) < 0) {
        err = errno;
        close(sv[0]); /* the server reads EOF and exits */
        close(np[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        errno = err;
        return -1;
    }
    return 0;
fail_pipe:
    if (hi[0] >= 0)
        close(hi[0]);
    if (hi[1] >= 0)
        close(hi[1]);
    close(np[0]);
    close(np[1]);
fail_sock:
    close(sv[0]);
    close(sv[1]);
    errno = err;
    return -1;
}

/* ---- building the header: symbols and the quick start -------------------- */

/* Runs argv (searched in PATH) with stdout and stderr to `log`.  Returns
   its wait status, or -1 with errno when it cannot be run at all. */
static int t_dropin_tool(const char *const *argv, const char *log)
{
    posix_spawn_file_actions_t fa;
    int err, st;
    pid_t pid;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    err = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
                       environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        errno = err;
        return -1;
    }
    while (waitpid(pid, &st, 0) < 0)
        CHECK(errno == EINTR);
    return st;
}

/* Copies the start of a tool's log to stderr, for a failure's report:
   the first errors say what is wrong, the rest repeat it. */
static void t_dropin_show(const char *log)
{
    char line[512];
    int n = 0;
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f) && n++ < 12)
        fprintf(stderr, "      %s", line);
    fclose(f);
}

/* The program `name` as PATH finds it, resolved through its symlinks, so
   that cc and gcc count once.  0 if PATH has none. */
static int t_dropin_which(const char *name, char *out)
{
    const char *path = getenv("PATH"), *p;
    char buf[PATH_MAX];
    for (p = path ? path : "/usr/bin:/bin"; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && len + strlen(name) + 2 < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, name);
            if (access(buf, X_OK) == 0 && realpath(buf, out))
                return 1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* dir holds forkserver.h and test.c: out is its real path. */
static int t_dropin_srcdir_is(const char *dir, char *out)
{
    char h[PATH_MAX + 32], t[PATH_MAX + 32];
    if (!*dir)
        return 0;
    snprintf(h, sizeof h, "%s/forkserver.h", dir);
    snprintf(t, sizeof t, "%s/test.c", dir);
    return access(h, R_OK) == 0 && access(t, R_OK) == 0 &&
           realpath(dir, out) != NULL;
}

/* The directory of forkserver.h, which is test.c's: __FILE__ names it
   when the build was given an absolute path; `make test` and a by-hand
   `cc -pthread test.c -o test` leave the binary beside it; and a relative
   __FILE__ counts from where the build ran, usually where ./test runs. */
static void t_dropin_srcdir(char *out)
{
    char file[PATH_MAX], exe[PATH_MAX], *slash;
    int abs;
    snprintf(file, sizeof file, "%s", __FILE__);
    if ((slash = strrchr(file, '/')))
        *slash = 0;
    else
        snprintf(file, sizeof file, ".");
    snprintf(exe, sizeof exe, "%s", t_exe);
    if ((slash = strrchr(exe, '/')))
        *slash = 0;
    abs = file[0] == '/';
    if ((abs && t_dropin_srcdir_is(file, out)) ||
        t_dropin_srcdir_is(exe, out) ||
        (!abs && t_dropin_srcdir_is(file, out)))
        return;
    fprintf(stderr, "    forkserver.h and test.c are not in \"%s\" nor in "
            "\"%s\"\n", file, exe);
    CHECK(!"the source directory is found");
}

static const char *const t_dropin_api[] = {
    "fsrv_start", "fsrv_serve", "fsrv_attach", "fsrv_stop", "fsrv_launch",
    "fsrv_waitpid", "fsrv_kill", "fsrv_reap", "fsrv_notify_fd",
    "fsrv_server_pid"
};
#define T_DROPIN_NAPI (sizeof t_dropin_api / sizeof *t_dropin_api)

/* Checks what `nm -g --defined-only obj` lists: nothing at all when
   `none`, else every public function and no other name than fsrv_ ones,
   none of them private (fsrv__).  0 when nm cannot be run. */
static int t_dropin_nm(const char *obj, int none, const char *what)
{
    const char *argv[] = { "nm", "-g", "--defined-only", obj, NULL };
    char log[PATH_MAX + 16], line[512], name[256];
    unsigned seen = 0;
    size_t i;
    int st, bad = 0, n = 0;
    FILE *f;
    snprintf(log, sizeof log, "%s/nm.out", t_dir);
    if ((st = t_dropin_tool(argv, log)) == -1 && errno == ENOENT)
        return 0;
    if (!EXITED(st, 0))
        t_dropin_show(log);
    CHECK(EXITED(st, 0));
    CHECK((f = fopen(log, "r")) != NULL);
    while (fgets(line, sizeof line, f)) {
        char *p = line + strlen(line);
        while (p > line && (p[-1] == '\n' || p[-1] == ' '))
            *--p = 0;
        if (!*line)
            continue;
        /* "ADDRESS TYPE NAME": the name is the last word */
        snprintf(name, sizeof name, "%s",
                 strrchr(line, ' ') ? strrchr(line, ' ') + 1 : line);
        n++;
        for (i = 0; i < T_DROPIN_NAPI; i++)
            if (!strcmp(name, t_dropin_api[i]))
                seen |= 1u << i;
        if (none || strncmp(name, "fsrv_", 5) || !strncmp(name, "fsrv__", 6)) {
            fprintf(stderr, "    %s exports \"%s\"\n", what, line);
            bad = 1;
        }
    }
    fclose(f);
    CHECK(!bad);
    if (!none && seen != (1u << T_DROPIN_NAPI) - 1) {
        for (i = 0; i < T_DROPIN_NAPI; i++)
            if (!(seen & (1u << i)))
                fprintf(stderr, "    %s lacks %s\n", what, t_dropin_api[i]);
        CHECK(!"every public function is exported");
    }
    CHECK(none ? n == 0 : n >= (int)T_DROPIN_NAPI);
    return 1;
}

/* Compiles the header as one object, in C or C++, with the
   implementation and with or without FORKSERVER_STATIC. */
static void t_dropin_object(const char *cc, int cxx, const char *hdr,
                            int impl, int stat, const char *obj)
{
    const char *argv[16];
    char log[PATH_MAX + 16];
    int n = 0, st;
    argv[n++] = cc;
    argv[n++] = cxx ? "-std=c++11" : "-std=c99";
    argv[n++] = "-c";
    argv[n++] = "-x";
    argv[n++] = cxx ? "c++" : "c";
    if (impl)
        argv[n++] = "-DFORKSERVER_IMPLEMENTATION";
    if (stat)
        argv[n++] = "-DFORKSERVER_STATIC";
    argv[n++] = hdr;
    argv[n++] = "-o";
    argv[n++] = obj;
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/cc.out", t_dir);
    st = t_dropin_tool(argv, log);
    if (!EXITED(st, 0)) {
        fprintf(stderr, "    %s -x %s%s%s failed:\n", cc, cxx ? "c++" : "c",
                impl ? " -DFORKSERVER_IMPLEMENTATION" : "",
                stat ? " -DFORKSERVER_STATIC" : "");
        t_dropin_show(log);
    }
    CHECK(EXITED(st, 0));
}

/* Every external name the implementation defines is a public fsrv_ one,
   in C and in C++ (extern "C", so unmangled); FORKSERVER_STATIC defines
   none, nor does the header without the implementation. */
static void test_dropin_symbols(void)
{
    static const char *const ccs[] = { "cc", "gcc", "clang", "musl-gcc" };
    static const char *const cxxs[] = { "c++", "g++", "clang++" };
    char src[PATH_MAX], hdr[PATH_MAX + 16], obj[PATH_MAX + 16];
    char seen[8][PATH_MAX], path[PATH_MAX];
    int nseen = 0, nc = 0, ncxx = 0, i, j, k, cxx, stat;
    t_dropin_srcdir(src);
    snprintf(hdr, sizeof hdr, "%s/forkserver.h", src);
    snprintf(obj, sizeof obj, "%s/fsrv.o", t_dir);
    for (cxx = 0; cxx < 2; cxx++) {
        const char *const *list = cxx ? cxxs : ccs;
        int nlist = cxx ? 3 : 4;
        nseen = 0; /* clang++ is clang, but in C++ it counts again */
        for (i = 0; i < nlist; i++) {
            if (!t_dropin_which(list[i], path))
                continue;
            for (j = 0; j < nseen && strcmp(seen[j], path); j++)
                ;
            if (j < nseen)
                continue; /* cc is gcc here, say: once is enough */
            snprintf(seen[nseen++], PATH_MAX, "%s", path);
            for (k = 0; k < 3; k++) {
                char what[128];
                stat = k == 1;
                snprintf(what, sizeof what, "%s -x %s%s", list[i],
                         cxx ? "c++" : "c", k == 0 ? "" : k == 1 ?
                         " -DFORKSERVER_STATIC" : " (declarations only)");
                t_dropin_object(list[i], cxx, hdr, k != 2, stat, obj);
                if (!t_dropin_nm(obj, k != 0, what))
                    t_skip("nm (binutils) is not installed");
                printf("    %s: ok\n", what);
            }
            if (cxx)
                ncxx++;
            else
                nc++;
        }
    }
    if (!nc)
        t_skip("no C compiler (cc, gcc, clang, musl-gcc) found");
    if (!ncxx)
        t_skip("no C++ compiler (c++, g++, clang++) found: C++ unchecked");
}

/* A program after the header's QUICK START, built strictly (-Wall
   -Wextra -Werror -pedantic) with each compiler, as C and as C++, with and
   without FORKSERVER_STATIC, and run: a user that includes it once and
   calls a few functions must get a clean build and a working server. */
static const char t_dropin_quick[] =
    "#define FORKSERVER_IMPLEMENTATION\n"
    "#include \"forkserver.h\"\n"
    "#include <stdio.h>\n"
    "#include <sys/wait.h>\n"
    "\n"
    "int main(void)\n"
    "{\n"
    "    fsrv_client c;\n"
    "    char prog[] = \"/bin/echo\", word[] = \"hello\";\n"
    "    char *argv[] = { prog, word, NULL };\n"
    "    int status = -1;\n"
    "    pid_t pid;\n"
    "    if (fsrv_start(&c, NULL) < 0)\n"
    "        return 2;\n"
    "    pid = fsrv_launch(&c, argv, NULL, NULL);\n"
    "    if (pid < 0 || fsrv_waitpid(&c, pid, &status, 0) != pid)\n"
    "        return 3;\n"
    "    if (fsrv_stop(&c, 0) < 0)\n"
    "        return 4;\n"
    "    return WIFEXITED(status) ? WEXITSTATUS(status) : 5;\n"
    "}\n";

static void test_dropin_quickstart(void)
{
    static const char *const ccs[] = { "gcc", "clang", "musl-gcc", "g++",
                                       "clang++" };
    char src[PATH_MAX], inc[PATH_MAX + 8], prog[PATH_MAX + 16];
    char exe[PATH_MAX + 16], log[PATH_MAX + 16], path[PATH_MAX];
    int i, stat, built = 0, failed = 0;
    t_dropin_srcdir(src);
    snprintf(inc, sizeof inc, "-I%s", src);
    snprintf(prog, sizeof prog, "%s/quick.c", t_dir);
    snprintf(exe, sizeof exe, "%s/quick", t_dir);
    snprintf(log, sizeof log, "%s/quick.out", t_dir);
    t_write_file(prog, t_dropin_quick, 0644);
    for (i = 0; i < 5; i++) {
        int cxx = i >= 3;
        if (!t_dropin_which(ccs[i], path))
            continue;
        for (stat = 0; stat < 2; stat++) {
            const char *argv[24], *run[] = { exe, NULL };
            char out[64];
            int n = 0, st;
            FILE *f;
            argv[n++] = ccs[i];
            argv[n++] = cxx ? "-std=c++11" : "-std=c99";
            argv[n++] = "-pedantic";
            argv[n++] = "-Wall";
            argv[n++] = "-Wextra";
            argv[n++] = "-Werror";
            argv[n++] = "-O2";
            if (stat)
                argv[n++] = "-DFORKSERVER_STATIC";
            argv[n++] = inc;
            argv[n++] = "-x";
            argv[n++] = cxx ? "c++" : "c";
            argv[n++] = prog;
            argv[n++] = "-pthread";
            argv[n++] = "-o";
            argv[n++] = exe;
            argv[n] = NULL;
            st = t_dropin_tool(argv, log);
            built++;
            if (!EXITED(st, 0)) {
                fprintf(stderr, "    %s%s: the build fails:\n", ccs[i],
                        stat ? " -DFORKSERVER_STATIC" : "");
                t_dropin_show(log);
                failed = 1;
                continue;
            }
            st = t_dropin_tool(run, log);
            memset(out, 0, sizeof out);
            if ((f = fopen(log, "r"))) {
                if (!fgets(out, sizeof out, f))
                    out[0] = 0;
                fclose(f);
            }
            if (!EXITED(st, 0) || strcmp(out, "hello\n")) {
                fprintf(stderr, "    %s%s: the program fails (status %#x)"
                        ":\n", ccs[i], stat ? " -DFORKSERVER_STATIC" : "",
                        (unsigned)st);
                t_dropin_show(log);
                failed = 1;
                continue;
            }
            printf("    %s%s: ok\n", ccs[i],
                   stat ? " -DFORKSERVER_STATIC" : "");
        }
    }
    if (!built)
        t_skip("no compiler (gcc, clang, musl-gcc, g++, clang++) found");
    CHECK(!failed);
}

/* ---- the exec'd server --------------------------------------------------- */

/* Reads the notify fd dry.  1 if it reads EOF (the server is gone). */
static int t_dropin_drain(int fd)
{
    char buf[256];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        ;
    if (r == 0)
        return 1;
    CHECK(errno == EAGAIN || errno == EINTR);
    return 0;
}

/* Every open fd of pid is below `limit`. */
static int t_dropin_fds_below(pid_t pid, int limit)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int ok = 1;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    CHECK((d = opendir(path)) != NULL);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) >= limit) {
            fprintf(stderr, "    pid %d holds fd %s\n", (int)pid, e->d_name);
            ok = 0;
        }
    closedir(d);
    return ok;
}

/* The server is the exec'd program, not a fork of the caller. */
static int t_dropin_is_execd(pid_t pid)
{
    char path[64], buf[512];
    ssize_t n;
    int fd;
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    CHECK((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0);
    buf[n] = 0;
    /* argv[0] NUL "--serve" NUL ... */
    return strlen(buf) + 1 < (size_t)n && !strcmp(buf + strlen(buf) + 1,
                                                  "--serve");
}

/* fsrv_serve's failures happen before it touches any state; a regression
   that served instead would change the process's signals, so it runs in
   a child of its own, under an alarm. */
static void t_dropin_serve_errors(void)
{
    fsrv_config bad = { t_entry, NULL, 0x80 };
    int sv[2], st, p[2], closed;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        alarm(10);
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        closed = 1000; /* not open, and no socket below will land on it */
        CHECK(fcntl(closed, F_GETFD) == -1 && errno == EBADF);
        /* not a SEQPACKET socket */
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK_ERR(fsrv_serve(sv[1], p[1], &t_cfg), EINVAL);
        close(sv[0]);
        close(sv[1]);
        CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK_ERR(fsrv_serve(sv[1], p[1], &t_cfg), EINVAL);
        close(sv[0]);
        close(sv[1]);
        /* not a socket at all, and no fd at all: getsockopt's word */
        CHECK_ERR(fsrv_serve(p[0], p[1], &t_cfg), ENOTSOCK);
        CHECK_ERR(fsrv_serve(-1, p[1], &t_cfg), EBADF);
        CHECK_ERR(fsrv_serve(closed, p[1], &t_cfg), EBADF);
        /* a good channel, a bad notify fd */
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ==
              0);
        CHECK_ERR(fsrv_serve(sv[1], closed, &t_cfg), EBADF);
        CHECK_ERR(fsrv_serve(sv[1], -1, &t_cfg), EBADF);
        /* bad flags in cfg */
        CHECK_ERR(fsrv_serve(sv[1], p[1], &bad), EINVAL);
        /* The channel works after all that; the peer gone, serving
           returns 0 at once. */
        close(sv[0]);
        CHECK(fsrv_serve(sv[1], p[1], &t_cfg) == 0);
        _exit(0);
    }
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(EXITED(st, 0));
}

/* fsrv_serve run by hand in a child, attached with server -1: a stop
   makes fsrv_serve return 0, and fsrv_stop leaves the reaping to us. */
static void t_dropin_serve_returns(void)
{
    const char *argv[] = { "exit", "6", NULL };
    fsrv_client c;
    int sv[2], np[2], st;
    pid_t pid;
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(pipe2(np, O_CLOEXEC) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        alarm(10);
        close(sv[0]);
        close(np[0]);
        _exit(fsrv_serve(sv[1], np[1], &t_cfg) == 0 ? 0 : 1);
    }
    close(sv[1]);
    close(np[1]);
    CHECK(fsrv_attach(&c, sv[0], np[0], -1) == 0);
    CHECK(fsrv_server_pid(&c) == -1);
    CHECK(EXITED(t_wait(&c, t_run(&c, argv, FSRV_ENTRY)), 6));
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(EXITED(st, 0));
}

static void test_dropin_execd_server(void)
{
    const char *a_sh[] = { "/bin/sh", "-c", "echo \"$0:$FOO\"", "zero",
                           NULL };
    const char *a_map[] = { "/bin/sh", "-c", "echo A >&5; echo B >&6", NULL };
    const char *a_exit[] = { "exit", "42", NULL };
    const char *a_print[] = { "print", "entry", NULL };
    const char *a_sleep[] = { "sleep", "200", NULL };
    const char *a_long[] = { "sleep", "100000", NULL };
    const char *a_true[] = { "/bin/true", NULL };
    char *envp[] = { (char *)"FOO=execd", NULL };
    fsrv_config sub = { t_entry, NULL, FSRV_SUBREAPER };
    char codes[5][8], buf[16];
    pid_t s, pid, pids[5];
    fsrv_launch_opts o;
    fsrv_exit ex[8];
    struct pollfd p;
    fsrv_client c;
    int st, fds0, i, n, got, pidfd = -2, a[2], b[2];
    fsrv_fd m[3];

    CHECK(t_start_execd(&c, &t_cfg) == 0);
    s = fsrv_server_pid(&c);
    CHECK(s > 0 && t_alive(s) && t_dropin_is_execd(s));
    /* stdio, the channel at 3 and notify at 4, and nothing of ours */
    CHECK(t_dropin_fds_below(s, 5));
    fds0 = t_count_fds(s);

    /* launch: exec and entry */
    CHECK(!strcmp(t_output(&c, a_sh, envp, 0, NULL, &st), "zero:execd\n"));
    CHECK(EXITED(st, 0));
    CHECK(EXITED(t_wait(&c, t_run(&c, a_exit, FSRV_ENTRY)), 42));
    CHECK(!strcmp(t_output(&c, a_print, NULL, FSRV_ENTRY, NULL, &st),
                  "entry"));
    CHECK_ERR(t_run(&c, a_true, 0x4000), EINVAL);
    {
        const char *noent[] = { "/nonexistent/prog", NULL };
        CHECK_ERR(t_run(&c, noent, 0), ENOENT);
    }

    /* waitpid: WNOHANG, then blocking; a pidfd comes across too */
    memset(&o, 0, sizeof o);
    o.flags = FSRV_ENTRY;
    o.pidfd = &pidfd;
    CHECK((pid = fsrv_launch(&c, (char *const *)a_sleep, NULL, &o)) > 0);
    CHECK(pidfd >= 0 || pidfd == -1);
    st = 12345;
    CHECK(fsrv_waitpid(&c, pid, &st, WNOHANG) == 0 && st == 12345);
    CHECK(fsrv_waitpid(&c, pid, &st, 0) == pid && EXITED(st, 0));
    CHECK_ERR(fsrv_waitpid(&c, pid, &st, WNOHANG), ECHILD);
    if (pidfd >= 0) {
        p.fd = pidfd;
        p.events = POLLIN;
        CHECK(poll(&p, 1, 0) == 1); /* it said the child ended */
        close(pidfd);
    }

    /* kill */
    CHECK((pid = t_run(&c, a_long, FSRV_ENTRY)) > 0);
    CHECK(fsrv_kill(&c, pid, 0) == 0);
    CHECK_ERR(fsrv_kill(&c, getpid(), 0), ESRCH);
    CHECK(fsrv_kill(&c, pid, SIGTERM) == 0);
    CHECK(KILLED(t_wait(&c, pid), SIGTERM));
    CHECK_ERR(fsrv_kill(&c, pid, SIGKILL), ESRCH);

    /* reap, woken by the notify fd */
    for (i = 0; i < 5; i++) {
        const char *argv[3];
        snprintf(codes[i], sizeof codes[i], "%d", 20 + i);
        argv[0] = "exit";
        argv[1] = codes[i];
        argv[2] = NULL;
        CHECK((pids[i] = t_run(&c, argv, FSRV_ENTRY)) > 0);
    }
    p.fd = fsrv_notify_fd(&c);
    p.events = POLLIN;
    for (got = 0; got < 5;) {
        CHECK(poll(&p, 1, 5000) == 1);
        CHECK(!t_dropin_drain(p.fd));
        while ((n = fsrv_reap(&c, ex, 8)) > 0)
            for (i = 0; i < n; i++, got++) {
                int j;
                for (j = 0; j < 5 && pids[j] != ex[i].pid; j++)
                    ;
                CHECK(j < 5 && EXITED(ex[i].status, 20 + j));
                pids[j] = 0; /* once only */
            }
        CHECK(n == 0);
    }

    /* fd mapping: 5 and 6 swapped, and 1 gets a duplicate of one */
    CHECK(pipe2(a, O_CLOEXEC) == 0 && pipe2(b, O_CLOEXEC) == 0);
    m[0].parent_fd = b[1]; m[0].child_fd = 5;
    m[1].parent_fd = a[1]; m[1].child_fd = 6;
    m[2].parent_fd = a[1]; m[2].child_fd = 1;
    memset(&o, 0, sizeof o);
    o.fds = m;
    o.nfds = 3;
    CHECK(EXITED(t_wait(&c, fsrv_launch(&c, (char *const *)a_map, NULL,
                                        &o)), 0));
    close(a[1]);
    close(b[1]);
    memset(buf, 0, sizeof buf);
    CHECK(read(a[0], buf, sizeof buf - 1) == 2 && !strcmp(buf, "B\n"));
    CHECK(read(b[0], buf, sizeof buf - 1) == 2 && !strncmp(buf, "A\n", 2));
    close(a[0]);
    close(b[0]);

    /* nothing left behind, and fsrv_stop reaps the server */
    t_zombie_check(&c, fds0);
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(t_stat(s, NULL) == 0);
    CHECK(waitpid(s, NULL, WNOHANG) == -1 && errno == ECHILD);

    /* A server exec'd without an entry function refuses FSRV_ENTRY. */
    CHECK(t_start_execd(&c, NULL) == 0);
    CHECK_ERR(t_run(&c, a_exit, FSRV_ENTRY), EINVAL);
    CHECK(EXITED(t_wait(&c, t_run(&c, a_true, 0)), 0));
    CHECK(fsrv_stop(&c, 0) == 0);

    /* The server killed: every call says so, notify reads EOF, and
       fsrv_stop still reaps the dead server. */
    CHECK(t_start_execd(&c, &t_cfg) == 0);
    s = fsrv_server_pid(&c);
    CHECK((pid = t_run(&c, a_long, FSRV_ENTRY)) > 0);
    CHECK(kill(s, SIGKILL) == 0);
    CHECK_GONE(t_run(&c, a_exit, FSRV_ENTRY));
    CHECK_GONE(fsrv_waitpid(&c, pid, &st, 0));
    CHECK_GONE(fsrv_waitpid(&c, pid, &st, WNOHANG));
    CHECK_GONE(fsrv_kill(&c, pid, SIGKILL));
    CHECK_GONE(fsrv_reap(&c, ex, 8));
    p.fd = fsrv_notify_fd(&c);
    CHECK(poll(&p, 1, 5000) == 1);
    CHECK(t_dropin_drain(p.fd) == 1);
    kill(pid, SIGKILL); /* alive until now, so still that child: an orphan
                           of the runner's, which reaps it */
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(t_stat(s, NULL) == 0);

    /* fsrv_stop with a signal ends the children of an exec'd server. */
    CHECK(t_start_execd(&c, &t_cfg) == 0);
    s = fsrv_server_pid(&c);
    CHECK((pid = t_run(&c, a_long, FSRV_ENTRY)) > 0);
    CHECK(fsrv_stop(&c, SIGTERM) == 0);
    CHECK(t_stat(s, NULL) == 0);
    for (i = 0; i < 200 && t_alive(pid); i++)
        t_sleep_ms(10);
    CHECK(!t_alive(pid));

    /* fsrv_serve's own error paths, and its return at the end */
    t_dropin_serve_errors();
    t_dropin_serve_returns();

    /* Last, as it makes this process a subreaper for good: a dead exec'd
       server's children come to us and the same calls still work. */
    CHECK(t_start_execd(&c, &sub) == 0);
    s = fsrv_server_pid(&c);
    CHECK((pid = t_run(&c, a_long, FSRV_ENTRY)) > 0);
    CHECK(kill(s, SIGKILL) == 0);
    CHECK_GONE(t_run(&c, a_exit, FSRV_ENTRY));
    CHECK(fsrv_waitpid(&c, pid, &st, WNOHANG) == 0);
    CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
    CHECK(fsrv_waitpid(&c, pid, &st, 0) == pid && KILLED(st, SIGKILL));
    CHECK(fsrv_stop(&c, 0) == 0);
    CHECK(t_stat(s, NULL) == 0);
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

/* ---- event loops --------------------------------------------------------- */

/* One child of an event-loop run: what it was asked to do and what its
   status must be. */
struct t_dropin_kid {
    pid_t pid;
    int code, sig; /* exit code, or the signal that kills it */
    int done;
};

/* Launches child i: most sleep 0-20 ms, some exit at once with a code,
   some die by a signal, so that statuses differ and exits bunch up. */
static pid_t t_dropin_launch_kid(fsrv_client *c, int i,
                                 struct t_dropin_kid *k)
{
    char a1[16];
    const char *argv[] = { "sleep", a1, NULL };
    switch (i % 4) {
    case 1:
        argv[0] = "exit";
        k->code = i % 251 + 1;
        k->sig = 0;
        snprintf(a1, sizeof a1, "%d", k->code);
        break;
    case 3:
        argv[0] = "raise";
        k->code = -1;
        k->sig = SIGUSR1;
        snprintf(a1, sizeof a1, "%d", SIGUSR1);
        break;
    default:
        k->code = 0;
        k->sig = 0;
        snprintf(a1, sizeof a1, "%d", (i * 7) % 21);
    }
    k->done = 0;
    k->pid = t_run(c, argv, FSRV_ENTRY);
    CHECK(k->pid > 0);
    return k->pid;
}

/* Takes one reaped exit: it must be exactly one live launch's, with that
   launch's status.  A pid may come back for a later launch once reaped,
   so only launches not yet done can match. */
static void t_dropin_collect(struct t_dropin_kid *k, int n,
                             const fsrv_exit *e)
{
    int i, hit = -1;
    for (i = 0; i < n; i++)
        if (!k[i].done && k[i].pid == e->pid) {
            CHECK(hit < 0); /* two live launches cannot share a pid */
            hit = i;
        }
    if (hit < 0)
        fprintf(stderr, "    pid %d reaped but not live\n", (int)e->pid);
    CHECK(hit >= 0);
    if (k[hit].sig ? !KILLED(e->status, k[hit].sig) :
                     !EXITED(e->status, k[hit].code)) {
        fprintf(stderr, "    launch %d (pid %d): status %#x\n", hit,
                (int)e->pid, (unsigned)e->status);
        CHECK(!"the launch's own status");
    }
    k[hit].done = 1;
}

/* After a wakeup: drain the notify fd, then reap until nothing is left.
   Returns how many it collected. */
static int t_dropin_reap_all(fsrv_client *c, struct t_dropin_kid *k, int n)
{
    fsrv_exit ex[64];
    int r, i, total = 0;
    /* EOF would mean the server died under us */
    CHECK(t_dropin_drain(fsrv_notify_fd(c)) == 0);
    while ((r = fsrv_reap(c, ex, 64)) > 0) {
        for (i = 0; i < r; i++)
            t_dropin_collect(k, n, &ex[i]);
        total += r;
    }
    CHECK(r == 0);
    return total;
}

/* Drives n children to completion from epoll, at most `cap` alive, the
   notify fd the only wakeup.  edge: EPOLLET instead of level. */
static void t_dropin_epoll_run(fsrv_client *c, struct t_dropin_kid *k, int n,
                               int cap, int edge)
{
    struct epoll_event ev;
    int ep, launched = 0, reaped = 0, wakeups = 0;
    int limit = (int)(10000 * t_slow);
    CHECK((ep = epoll_create1(EPOLL_CLOEXEC)) >= 0);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (edge ? EPOLLET : 0);
    ev.data.fd = fsrv_notify_fd(c);
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fsrv_notify_fd(c), &ev) == 0);
    while (reaped < n) {
        int r;
        /* a burst up to the cap, topped up after every round of reaps */
        for (; launched < n && launched - reaped < cap; launched++)
            t_dropin_launch_kid(c, launched, &k[launched]);
        r = epoll_wait(ep, &ev, 1, limit);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            fprintf(stderr, "    no wakeup in %d ms: %d launched, %d "
                    "reaped\n", limit, launched, reaped);
        CHECK(r == 1 && ev.data.fd == fsrv_notify_fd(c));
        CHECK(ev.events & EPOLLIN);
        wakeups++;
        reaped += t_dropin_reap_all(c, k, launched);
    }
    CHECK(launched == n && reaped == n);
    CHECK(wakeups > 0 && wakeups <= n + 1);
    close(ep);
}

static void test_dropin_epoll_1000(void)
{
    enum { N = 1000, CAP = 250 };
    static struct t_dropin_kid k[N];
    fsrv_exit ex[4];
    fsrv_client c;
    int fds0, edge;
    t_start(&c);
    fds0 = t_count_fds(fsrv_server_pid(&c));
    for (edge = 0; edge < 2; edge++) {
        t_dropin_epoll_run(&c, k, N, CAP, edge);
        CHECK(fsrv_reap(&c, ex, 4) == 0);
        t_sync(&c);
        CHECK(t_children(fsrv_server_pid(&c), 0) == 0);
        t_zombie_check(&c, fds0);
    }
    CHECK(fsrv_stop(&c, 0) == 0);
}

/* The same from poll, and at the end the loop sees the server's death as
   EOF on the notify fd. */
static void test_dropin_poll_notify(void)
{
    enum { N = 200, CAP = 40 };
    static struct t_dropin_kid k[N];
    struct pollfd p;
    fsrv_client c;
    int launched = 0, reaped = 0, r;
    int limit = (int)(10000 * t_slow);
    t_start(&c);
    p.fd = fsrv_notify_fd(&c);
    p.events = POLLIN;
    while (reaped < N) {
        for (; launched < N && launched - reaped < CAP; launched++)
            t_dropin_launch_kid(&c, launched, &k[launched]);
        r = poll(&p, 1, limit);
        if (r < 0 && errno == EINTR)
            continue;
        CHECK(r == 1 && (p.revents & POLLIN));
        reaped += t_dropin_reap_all(&c, k, launched);
    }
    t_sync(&c);
    CHECK(t_children(fsrv_server_pid(&c), 0) == 0);
    /* Any byte left over (an exit reaped before its handler wrote) goes;
       then the pipe stays quiet until something happens. */
    t_dropin_drain(p.fd);
    CHECK(poll(&p, 1, 50) == 0);
    CHECK(kill(fsrv_server_pid(&c), SIGKILL) == 0);
    CHECK(poll(&p, 1, limit) == 1 && (p.revents & (POLLIN | POLLHUP)));
    CHECK(t_dropin_drain(p.fd) == 1);
    CHECK(fsrv_stop(&c, 0) == 0);
}

/* ---- waiting with a timeout ---------------------------------------------- */

/* Milliseconds from now to `deadline` (t_now() seconds), rounded up so
   that a poll never wakes just before it and spins. */
static int t_dropin_left_ms(double deadline)
{
    double left = (deadline - t_now()) * 1000.0;
    return left <= 0 ? 0 : (int)left + 1;
}

/* (a) With the child's pidfd: it turns readable when the child ends, and
   the wait that follows returns at once.  The pid, 0 on timeout, or -1. */
static pid_t t_dropin_wait_pidfd(fsrv_client *c, pid_t pid, int pidfd,
                                 int ms, int *status)
{
    double deadline = t_now() + ms / 1000.0;
    struct pollfd p;
    int r;
    p.fd = pidfd;
    p.events = POLLIN;
    do
        r = poll(&p, 1, t_dropin_left_ms(deadline));
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return r;
    return fsrv_waitpid(c, pid, status, 0);
}

/* (b) With the notify fd, for when there is no pidfd: it wakes for any
   child's exit, so each wakeup asks for this one child with WNOHANG.
   Drain first, then ask, then sleep: a byte written after the drain
   stays to wake the poll.  The pid, 0 on timeout, or -1. */
static pid_t t_dropin_wait_notify(fsrv_client *c, pid_t pid, int ms,
                                  int *status)
{
    double deadline = t_now() + ms / 1000.0;
    struct pollfd p;
    p.fd = fsrv_notify_fd(c);
    p.events = POLLIN;
    for (;;) {
        pid_t r;
        int left;
        if (t_dropin_drain(p.fd)) {
            errno = ECONNRESET;
            return -1;
        }
        if ((r = fsrv_waitpid(c, pid, status, WNOHANG)) != 0)
            return r;
        if ((left = t_dropin_left_ms(deadline)) == 0)
            return 0;
        if (poll(&p, 1, left) < 0 && errno != EINTR)
            return -1;
    }
}

/* A child that outlives the timeout is reported as timed out, neither
   early nor much late, and is still there to kill; one that ends in time
   is collected with its status. */
static void test_dropin_wait_timeout(void)
{
    const char *a_long[] = { "sleep", "100000", NULL };
    const char *a_seven[] = { "/bin/sh", "-c", "sleep 0.1; exit 7", NULL };
    const char *a_nine[] = { "exit", "9", NULL };
    double late = 1.0 * t_slow, t0, el;
    fsrv_launch_opts o;
    fsrv_exit ex[8];
    fsrv_client c;
    pid_t pid, noise[20];
    int st, i, got, pidfd = -2;
    t_start(&c);

    /* (b) the notify fd, while 20 other children exit during the wait
       and wake it for nothing */
    for (i = 0; i < 20; i++) {
        char ms[8];
        const char *argv[] = { "sleep", ms, NULL };
        snprintf(ms, sizeof ms, "%d", 10 + 12 * i);
        CHECK((noise[i] = t_run(&c, argv, FSRV_ENTRY)) > 0);
    }
    CHECK((pid = t_run(&c, a_long, FSRV_ENTRY)) > 0);
    t0 = t_now();
    CHECK(t_dropin_wait_notify(&c, pid, 300, &st) == 0);
    el = t_now() - t0;
    if (el < 0.3 || el > 0.3 + late)
        fprintf(stderr, "    timeout of 0.3 s reported after %.3f s\n", el);
    CHECK(el >= 0.3 && el < 0.3 + late);
    CHECK(fsrv_waitpid(&c, pid, &st, WNOHANG) == 0); /* still running */
    CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
    CHECK(t_dropin_wait_notify(&c, pid, 5000, &st) == pid);
    CHECK(KILLED(st, SIGKILL));
    /* ends in time, with its status */
    CHECK((pid = t_run(&c, a_seven, 0)) > 0);
    t0 = t_now();
    CHECK(t_dropin_wait_notify(&c, pid, 5000, &st) == pid);
    el = t_now() - t0;
    CHECK(EXITED(st, 7) && el < 5.0);
    /* a timeout of 0 is a look: collected if ended, else 0 at once */
    CHECK((pid = t_run(&c, a_nine, FSRV_ENTRY)) > 0);
    t_sleep_ms(50);
    CHECK(t_dropin_wait_notify(&c, pid, 0, &st) == pid && EXITED(st, 9));
    CHECK((pid = t_run(&c, a_long, FSRV_ENTRY)) > 0);
    t0 = t_now();
    CHECK(t_dropin_wait_notify(&c, pid, 0, &st) == 0);
    CHECK(t_now() - t0 < late);
    CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
    CHECK(KILLED(t_wait(&c, pid), SIGKILL));
    /* the noise is all there to reap, each once */
    for (got = 0; got < 20;) {
        struct pollfd p;
        int n = fsrv_reap(&c, ex, 8), j;
        CHECK(n >= 0);
        p.fd = fsrv_notify_fd(&c);
        p.events = POLLIN;
        if (n == 0) { /* the rest are still to exit: wait for a wakeup */
            CHECK(poll(&p, 1, 5000) == 1);
            CHECK(!t_dropin_drain(p.fd));
        }
        for (i = 0; i < n; i++, got++) {
            for (j = 0; j < 20 && noise[j] != ex[i].pid; j++)
                ;
            CHECK(j < 20 && EXITED(ex[i].status, 0));
            noise[j] = 0;
        }
    }
    CHECK(fsrv_reap(&c, ex, 8) == 0);

    /* (a) the pidfd */
    memset(&o, 0, sizeof o);
    o.flags = FSRV_ENTRY;
    o.pidfd = &pidfd;
    CHECK((pid = fsrv_launch(&c, (char *const *)a_long, NULL, &o)) > 0);
    if (pidfd == -1) {
        fsrv_kill(&c, pid, SIGKILL);
        t_wait(&c, pid);
        t_skip("no pidfd_open (Linux < 5.3): the pidfd way is unchecked");
    }
    CHECK(pidfd >= 0);
    t0 = t_now();
    CHECK(t_dropin_wait_pidfd(&c, pid, pidfd, 300, &st) == 0);
    el = t_now() - t0;
    if (el < 0.3 || el > 0.3 + late)
        fprintf(stderr, "    timeout of 0.3 s reported after %.3f s\n", el);
    CHECK(el >= 0.3 && el < 0.3 + late);
    CHECK(fsrv_waitpid(&c, pid, &st, WNOHANG) == 0);
    CHECK(fsrv_kill(&c, pid, SIGKILL) == 0);
    CHECK(t_dropin_wait_pidfd(&c, pid, pidfd, 5000, &st) == pid);
    CHECK(KILLED(st, SIGKILL));
    close(pidfd);
    o.flags = 0;
    CHECK((pid = fsrv_launch(&c, (char *const *)a_seven, NULL, &o)) > 0);
    CHECK(pidfd >= 0);
    CHECK(t_dropin_wait_pidfd(&c, pid, pidfd, 5000, &st) == pid);
    CHECK(EXITED(st, 7));
    close(pidfd);
    t_sync(&c); /* a wait's reply goes out before the server reaps */
    CHECK(t_children(fsrv_server_pid(&c), 0) == 0);
    CHECK(fsrv_stop(&c, 0) == 0);
}

#define T_DROPIN_TESTS \
    { "dropin_symbols", test_dropin_symbols, 120 }, \
    { "dropin_quickstart", test_dropin_quickstart, 120 }, \
    { "dropin_execd_server", test_dropin_execd_server, 30 }, \
    { "dropin_epoll_1000", test_dropin_epoll_1000, 60 }, \
    { "dropin_poll_notify", test_dropin_poll_notify, 30 }, \
    { "dropin_wait_timeout", test_dropin_wait_timeout, 30 },
/* ---- the benchmark: ./test --bench (make bench) ------------------------- */

/* forkserver.h against what the kernel itself can do on this machine;
   bench_main is the entry point.

   Every row is the ratio of two figures taken in the same run: blocks of
   the two sides alternate (A, B, A, B, ...) and each side's figure is the
   median of its blocks.  Absolute times on a small shared VM drift by tens
   of percent from one second to the next; two sides sampled alternately
   drift together, and the median ignores the block a neighbour spoiled.

   Placement: a wakeup that crosses CPUs costs 7 to 45 us here, depending
   on where the scheduler happens to put each process, and that would
   swamp the few microseconds a round trip is made of.  So a row marked
   "1 CPU" pins the bench to one CPU before it starts that row's server
   (fsrv_start forks it, and the mask is inherited) or any peer, child or
   worker, and both sides run under the same mask. */


enum {
    bench_max_blocks = 64,
    bench_kids = 1000, /* zombies per reap block */
    bench_nthreads = 8
};

/* Big enough that fork's page-table copy dominates, small enough for a
   modest machine. */
static const size_t bench_big = (size_t)1 << 30;

typedef struct {
    const char *name, *place, *unit; /* unit: "us" or "/s" */
    double ours, ref, goal;
    int floor; /* the goal is a floor (ratio >= goal) */
    char skip[176]; /* "skipped: " and a why */
} bench_row;

/* Why the current row cannot be measured; becomes "skipped: ...". */
static char bench_why[160];
static cpu_set_t bench_mask; /* the affinity we were given */
static int bench_cpu = -1;   /* the one CPU that pinned rows share */
static int bench_pidfd = 1;  /* pidfd_open works: the notify reference */
static double bench_load[2]; /* 1-minute load average, start and end */

static double bench_fail(const char *what, int err)
{
    if (err)
        snprintf(bench_why, sizeof bench_why, "%s: %s", what,
                 strerror(err));
    else
        snprintf(bench_why, sizeof bench_why, "%s", what);
    return -1;
}

static double bench_now(void) /* microseconds */
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A block runs n operations of one side and returns that side's figure
   for it, or -1 with bench_why set. */
typedef double (*bench_fn)(void *ctx, int n);

/* One block of each side first, thrown away: it pays for first-touch
   faults and cold caches, which belong to neither side. */
static int bench_pair(bench_fn fa, void *ca, int na, bench_fn fb, void *cb,
                      int nb, int blocks, double *ma, double *mb)
{
    double a[bench_max_blocks], b[bench_max_blocks];
    int i;
    if (blocks > bench_max_blocks)
        blocks = bench_max_blocks;
    if (fa(ca, na) < 0 || fb(cb, nb) < 0)
        return -1;
    for (i = 0; i < blocks; i++)
        if ((a[i] = fa(ca, na)) < 0 || (b[i] = fb(cb, nb)) < 0)
            return -1;
    *ma = bench_median(a, blocks);
    *mb = bench_median(b, blocks);
    return 0;
}

/* Any one CPU would do; the last allowed one, because CPU 0 is the usual
   target of interrupts and housekeeping work. */
static const char *bench_pin(void)
{
    cpu_set_t one;
    if (bench_cpu < 0)
        return "free";
    CPU_ZERO(&one);
    CPU_SET(bench_cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0 ? "1 CPU" : "free";
}

static void bench_unpin(void)
{
    if (bench_cpu >= 0)
        sched_setaffinity(0, sizeof bench_mask, &bench_mask);
}

/* Lets a child that has just said it is ready reach its blocking read:
   on one CPU it runs while we sleep.  Never timed. */
static void bench_settle(void)
{
    struct timespec t;
    t.tv_sec = 0;
    t.tv_nsec = 200000;
    nanosleep(&t, NULL);
}

/* ---- children ------------------------------------------------------------ */

/* Entry children: "exit" returns at once; "block" sleeps until EOF on fd
   3; "ready" first writes a byte to fd 4, so that its parent knows it is
   about to sleep.  Told apart by first letter, not strcmp: a libc call
   the server never made is bound lazily again in every child, a cost of
   the entry function's, not of the library's. */
static int bench_entry(int argc, char **argv, void *arg)
{
    char b = 0;
    (void)arg;
    if (argc < 1 || argv[0][0] == 'e')
        return 0;
    if (argv[0][0] == 'r' && write(4, &b, 1) != 1)
        return 1;
    for (;;) {
        ssize_t r = read(3, &b, 1);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    return 0;
}

static const fsrv_config bench_cfg = { bench_entry, NULL, 0 };

static pid_t bench_launch(fsrv_client *c, const char *what,
                          const fsrv_fd *fds, int nfds, int *pidfd)
{
    char *argv[2];
    fsrv_launch_opts o;
    memset(&o, 0, sizeof o);
    argv[0] = (char *)what;
    argv[1] = NULL;
    o.flags = FSRV_ENTRY;
    o.fds = fds;
    o.nfds = nfds;
    o.pidfd = pidfd;
    return fsrv_launch(c, argv, NULL, &o);
}

static int bench_start(fsrv_client *c)
{
    if (fsrv_start(c, &bench_cfg) == 0)
        return 0;
    bench_fail("fsrv_start", errno);
    return -1;
}

/* ---- blocks -------------------------------------------------------------- */

typedef struct {
    fsrv_client *c;
    pid_t pid; /* a child that stays alive */
    int fd;    /* our end of the echo socket */
} bench_rt;

static double bench_waitpid_blk(void *p, int n)
{
    bench_rt *x = (bench_rt *)p;
    int i, st;
    double t = bench_now();
    for (i = 0; i < n; i++) {
        pid_t r = fsrv_waitpid(x->c, x->pid, &st, WNOHANG);
        if (r != 0)
            return bench_fail("fsrv_waitpid WNOHANG",
                              r < 0 ? errno : ECHILD);
    }
    return (bench_now() - t) / n;
}

/* The same sizes as fsrv_waitpid's datagrams: 16 bytes out, 20 back. */
static double bench_echo_blk(void *p, int n)
{
    bench_rt *x = (bench_rt *)p;
    char buf[64];
    int i;
    double t;
    memset(buf, 0, sizeof buf);
    t = bench_now();
    for (i = 0; i < n; i++)
        if (send(x->fd, buf, 16, MSG_NOSIGNAL) != 16 ||
            recv(x->fd, buf, sizeof buf, 0) != 20)
            return bench_fail("echo round trip", errno);
    return (bench_now() - t) / n;
}

static pid_t bench_echo_peer(int *fd)
{
    int sv[2];
    pid_t pid;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        char buf[64];
        memset(buf, 0, sizeof buf);
        close(sv[0]);
        for (;;) {
            ssize_t r = recv(sv[1], buf, sizeof buf, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || send(sv[1], buf, 20, MSG_NOSIGNAL) < 0)
                _exit(0);
        }
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    *fd = sv[0];
    return pid;
}

static double bench_launch_blk(void *p, int n)
{
    fsrv_client *c = (fsrv_client *)p;
    int i, st;
    double t = bench_now();
    for (i = 0; i < n; i++) {
        pid_t pid = bench_launch(c, "exit", NULL, 0, NULL);
        if (pid < 0)
            return bench_fail("fsrv_launch", errno);
        if (fsrv_waitpid(c, pid, &st, 0) != pid)
            return bench_fail("fsrv_waitpid", errno);
        if (st != 0)
            return bench_fail("an entry child failed", 0);
    }
    return (bench_now() - t) / n;
}

static double bench_fork_blk(void *p, int n)
{
    int i, st;
    double t = bench_now();
    (void)p;
    for (i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0)
            return bench_fail("fork", errno);
        if (waitpid(pid, &st, 0) != pid)
            return bench_fail("waitpid", errno);
    }
    return (bench_now() - t) / n;
}

static char *bench_true[] = { "/bin/true", NULL };

static double bench_exec_blk(void *p, int n)
{
    fsrv_client *c = (fsrv_client *)p;
    int i, st;
    double t = bench_now();
    for (i = 0; i < n; i++) {
        pid_t pid = fsrv_launch(c, bench_true, NULL, NULL);
        if (pid < 0)
            return bench_fail("fsrv_launch /bin/true", errno);
        if (fsrv_waitpid(c, pid, &st, 0) != pid)
            return bench_fail("fsrv_waitpid", errno);
        if (st != 0)
            return bench_fail("/bin/true failed", 0);
    }
    return (bench_now() - t) / n;
}

static double bench_spawn_blk(void *p, int n)
{
    int i, st, e;
    double t = bench_now();
    (void)p;
    for (i = 0; i < n; i++) {
        pid_t pid;
        if ((e = posix_spawn(&pid, bench_true[0], NULL, NULL, bench_true,
                             environ)) != 0)
            return bench_fail("posix_spawn /bin/true", e);
        if (waitpid(pid, &st, 0) != pid)
            return bench_fail("waitpid", errno);
    }
    return (bench_now() - t) / n;
}

static fsrv_exit bench_out[bench_kids];
static pid_t bench_pids[bench_kids];

/* -- reap.  Knowing that a child is a zombie must leave nothing behind
   that reaping it then has to tear down: a pidfd made each reap about a
   quarter dearer here (its pidfs state goes with the pid), and reading
   /proc/PID/stat 2.5 times as dear (its dentries are flushed).  So every
   child holds the write end of one pipe and exits at once; EOF means all
   of them are past closing their files, and the sleep lets the last few
   run the short rest of their exit, up to exit_notify, on our CPU. */

static int bench_all_exited(int alive)
{
    struct timespec t;
    char b;
    ssize_t r;
    while ((r = read(alive, &b, 1)) < 0 && errno == EINTR)
        ;
    close(alive);
    t.tv_sec = 0;
    t.tv_nsec = 10000000;
    nanosleep(&t, NULL);
    return r == 0 ? 0 : -1;
}

/* Figure: microseconds to collect all n zombies. */
static double bench_reap_blk(void *p, int n)
{
    fsrv_client *c = (fsrv_client *)p;
    int i, got, alive[2];
    fsrv_fd map;
    double t;
    if (pipe2(alive, O_CLOEXEC) < 0)
        return bench_fail("pipe2", errno);
    map.parent_fd = alive[1];
    map.child_fd = 3;
    for (i = 0; i < n; i++)
        if (bench_launch(c, "exit", &map, 1, NULL) < 0) {
            snprintf(bench_why, sizeof bench_why,
                     "fsrv_launch of child %d of %d: %s", i + 1, n,
                     strerror(errno));
            close(alive[0]);
            close(alive[1]);
            return -1;
        }
    close(alive[1]);
    if (bench_all_exited(alive[0]) < 0)
        return bench_fail("waiting for EOF", errno);
    t = bench_now();
    got = fsrv_reap(c, bench_out, n);
    t = bench_now() - t;
    if (got < 0)
        return bench_fail("fsrv_reap", errno);
    if (got != n) /* timed one call short: the figure would be wrong */
        return bench_fail("children still exiting 10 ms after EOF", 0);
    for (i = 0; i < n; i++)
        if (bench_out[i].status != 0)
            return bench_fail("an entry child failed", 0);
    return t;
}

static double bench_waitall_blk(void *p, int n)
{
    int i, k, st, err = 0, alive[2];
    double t;
    (void)p;
    if (pipe2(alive, O_CLOEXEC) < 0)
        return bench_fail("pipe2", errno);
    for (k = 0; k < n; k++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            err = errno;
            break;
        }
        bench_pids[k] = pid;
    }
    close(alive[1]);
    if (bench_all_exited(alive[0]) < 0 && !err)
        err = errno;
    if (err) {
        for (i = 0; i < k; i++)
            waitpid(bench_pids[i], &st, 0);
        snprintf(bench_why, sizeof bench_why, "fork of child %d of %d: %s",
                 k + 1, n, strerror(err));
        return -1;
    }
    /* WNOHANG, as the server reaps, and no check beforehand: a pass over
       the zombies would warm the caches for this side alone.  A child not
       yet a zombie shows as 0 here instead. */
    t = bench_now();
    for (i = 0; i < n; i++)
        if (waitpid(-1, &st, WNOHANG) <= 0)
            break;
    t = bench_now() - t;
    if (i < n) {
        for (i = 0; i < n; i++) /* ECHILD for those already reaped */
            waitpid(bench_pids[i], &st, 0);
        return bench_fail("children still exiting 10 ms after EOF", 0);
    }
    return t;
}

/* -- notify: both sides time from closing the pipe that the child sleeps
   on (its exit follows at once) to poll() returning in the parent. */

static int bench_drain(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    return 0;
}

static double bench_poll_once(int fd, int wake, double *sum)
{
    struct pollfd pf;
    double t;
    int r;
    pf.fd = wake;
    pf.events = POLLIN;
    pf.revents = 0;
    t = bench_now();
    close(fd);
    while ((r = poll(&pf, 1, 10000)) < 0 && errno == EINTR)
        ;
    *sum += bench_now() - t;
    return r == 1 ? 0 : bench_fail("poll after a child's exit", ETIMEDOUT);
}

static double bench_notify_blk(void *p, int n)
{
    fsrv_client *c = (fsrv_client *)p;
    int i, st, nfd = fsrv_notify_fd(c);
    double sum = 0;
    for (i = 0; i < n; i++) {
        int blk[2], rdy[2];
        fsrv_fd map[2];
        pid_t pid;
        char b;
        if (pipe2(blk, O_CLOEXEC) < 0)
            return bench_fail("pipe2", errno);
        if (pipe2(rdy, O_CLOEXEC) < 0) {
            close(blk[0]);
            close(blk[1]);
            return bench_fail("pipe2", errno);
        }
        map[0].parent_fd = blk[0];
        map[0].child_fd = 3;
        map[1].parent_fd = rdy[1];
        map[1].child_fd = 4;
        pid = bench_launch(c, "ready", map, 2, NULL);
        close(blk[0]);
        close(rdy[1]);
        if (pid < 0 || read(rdy[0], &b, 1) != 1) {
            int e = errno;
            close(blk[1]);
            close(rdy[0]);
            return bench_fail("fsrv_launch", pid < 0 ? e : EIO);
        }
        bench_settle();
        bench_drain(nfd);
        if (bench_poll_once(blk[1], nfd, &sum) < 0) {
            close(rdy[0]);
            return -1;
        }
        close(rdy[0]);
        if (fsrv_waitpid(c, pid, &st, 0) != pid)
            return bench_fail("fsrv_waitpid", errno);
    }
    return sum / n;
}

/* The reference: the parent learns of its own child's exit from the
   kernel directly, on a pidfd (the same moment SIGCHLD is sent), or
   without pidfds from a pipe whose only writer the child holds. */
static double bench_bare_notify_blk(void *p, int n)
{
    int i, st;
    double sum = 0;
    (void)p;
    for (i = 0; i < n; i++) {
        int blk[2], rdy[2], dead[2] = { -1, -1 }, wake;
        pid_t pid;
        char b = 0;
        if (pipe2(blk, O_CLOEXEC) < 0)
            return bench_fail("pipe2", errno);
        if (pipe2(rdy, O_CLOEXEC) < 0) {
            close(blk[0]);
            close(blk[1]);
            return bench_fail("pipe2", errno);
        }
        if (!bench_pidfd && pipe2(dead, O_CLOEXEC) < 0) {
            close(blk[0]);
            close(blk[1]);
            close(rdy[0]);
            close(rdy[1]);
            return bench_fail("pipe2", errno);
        }
        pid = fork();
        if (pid == 0) {
            close(blk[1]);
            close(rdy[0]);
            if (write(rdy[1], &b, 1) != 1)
                _exit(1);
            while (read(blk[0], &b, 1) != 0 && errno == EINTR)
                ;
            _exit(0);
        }
        close(blk[0]);
        close(rdy[1]);
        if (pid < 0) {
            close(blk[1]);
            close(rdy[0]);
            return bench_fail("fork", errno);
        }
        if (bench_pidfd) {
            wake = (int)syscall(SYS_pidfd_open, pid, 0);
        } else {
            close(dead[1]);
            wake = dead[0];
        }
        if (wake < 0 || read(rdy[0], &b, 1) != 1) {
            int e = errno;
            close(blk[1]);
            close(rdy[0]);
            waitpid(pid, &st, 0);
            return bench_fail("pidfd_open", wake < 0 ? e : EIO);
        }
        bench_settle();
        if (bench_poll_once(blk[1], wake, &sum) < 0) {
            close(rdy[0]);
            close(wake);
            return -1;
        }
        close(rdy[0]);
        close(wake);
        if (waitpid(pid, &st, 0) != pid)
            return bench_fail("waitpid", errno);
    }
    return sum / n;
}

/* -- threads */

typedef struct {
    fsrv_client *c;
    int n, err;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *go; /* 1: run, -1: give up */
    pthread_t th;
} bench_thr;

static void *bench_thread(void *p)
{
    bench_thr *a = (bench_thr *)p;
    int i, st, go;
    pthread_mutex_lock(a->mu);
    while (!*a->go)
        pthread_cond_wait(a->cv, a->mu);
    go = *a->go;
    pthread_mutex_unlock(a->mu);
    for (i = 0; go > 0 && i < a->n; i++) {
        pid_t pid = bench_launch(a->c, "exit", NULL, 0, NULL);
        if (pid < 0 || fsrv_waitpid(a->c, pid, &st, 0) != pid) {
            a->err = errno ? errno : EIO;
            break;
        }
    }
    return NULL;
}

typedef struct {
    fsrv_client *c;
    int k; /* threads */
} bench_thr_ctx;

/* Figure: launches per second over the block, n launches shared among k
   threads that all start at once. */
static double bench_threads_blk(void *p, int n)
{
    bench_thr_ctx *x = (bench_thr_ctx *)p;
    bench_thr a[bench_nthreads];
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int i, made, go = 0, err = 0, per = n / x->k;
    double t;
    for (made = 0; made < x->k; made++) {
        a[made].c = x->c;
        a[made].n = per;
        a[made].err = 0;
        a[made].mu = &mu;
        a[made].cv = &cv;
        a[made].go = &go;
        if ((err = pthread_create(&a[made].th, NULL, bench_thread,
                                  &a[made])) != 0)
            break;
    }
    pthread_mutex_lock(&mu);
    go = made == x->k ? 1 : -1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    t = bench_now();
    for (i = 0; i < made; i++) {
        pthread_join(a[i].th, NULL);
        if (a[i].err && !err)
            err = a[i].err;
    }
    t = bench_now() - t;
    pthread_cond_destroy(&cv);
    pthread_mutex_destroy(&mu);
    if (err)
        return bench_fail(made < x->k ? "pthread_create"
                                      : "fsrv_launch or fsrv_waitpid", err);
    return (double)per * x->k / t * 1e6;
}

/* -- big parent and flat: worker processes.

   "flat" compares a 1 GiB client with a small one, and a process cannot
   be both at once, nor switch back and forth in a fraction of a second.
   So two workers are forked alike from the (small, pinned) bench, and
   each starts its own server while small; then one of them touches 1 GiB.
   The bench asks them in turn, over pipes, for one block each, so the
   two sides interleave while each client keeps its size; the idle worker
   sleeps in read() and costs nothing.  "big parent" asks the big worker
   alone for launch blocks and fork blocks in turn.  A worker also keeps
   an OOM kill away from the bench itself: it shows as a skipped row. */

enum { bench_op_launch = 1, bench_op_fork, bench_op_quit };

typedef struct {
    double fig; /* negative: failed, see why */
    char why[160];
} bench_reply;

typedef struct {
    int cmd, res; /* the bench's ends of the two pipes */
    pid_t pid;
} bench_worker;

typedef struct {
    bench_worker *w;
    int op;
} bench_ask_ctx;

static void bench_worker_main(int cmd, int res, int big)
{
    bench_reply r;
    fsrv_client c;
    void *mem = NULL;
    int msg[2], ok, up;
    memset(&r, 0, sizeof r);
    if ((ok = up = bench_start(&c) == 0) && big) {
        mem = mmap(NULL, bench_big, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            mem = NULL;
            ok = 0;
            bench_fail("mmap of 1 GiB", errno);
        } else {
            memset(mem, 1, bench_big);
        }
    }
    r.fig = ok ? 0 : -1;
    if (!ok)
        memcpy(r.why, bench_why, sizeof r.why);
    if (write(res, &r, sizeof r) != (ssize_t)sizeof r || !ok) {
        if (up) /* our child: init may be slow to reap an orphan */
            fsrv_stop(&c, SIGKILL);
        _exit(1);
    }
    while (read(cmd, msg, sizeof msg) == (ssize_t)sizeof msg &&
           msg[0] != bench_op_quit) {
        r.fig = msg[0] == bench_op_fork ? bench_fork_blk(NULL, msg[1])
                                        : bench_launch_blk(&c, msg[1]);
        memcpy(r.why, bench_why, sizeof r.why);
        if (write(res, &r, sizeof r) != (ssize_t)sizeof r)
            break;
    }
    fsrv_stop(&c, SIGKILL);
    if (mem)
        munmap(mem, bench_big);
    _exit(0);
}

static double bench_dead_worker(bench_worker *w)
{
    int st = 0;
    waitpid(w->pid, &st, 0);
    w->pid = -1;
    if (WIFSIGNALED(st)) {
        snprintf(bench_why, sizeof bench_why,
                 "worker killed by signal %d%s", WTERMSIG(st),
                 WTERMSIG(st) == SIGKILL ? " (out of memory?)" : "");
        return -1;
    }
    return bench_fail("worker exited early", 0);
}

static double bench_ask(void *p, int n)
{
    bench_ask_ctx *a = (bench_ask_ctx *)p;
    bench_reply r;
    int msg[2];
    if (a->w->pid < 0)
        return -1; /* why already set */
    msg[0] = a->op;
    msg[1] = n;
    if (write(a->w->cmd, msg, sizeof msg) != (ssize_t)sizeof msg ||
        read(a->w->res, &r, sizeof r) != (ssize_t)sizeof r)
        return bench_dead_worker(a->w);
    if (r.fig < 0)
        memcpy(bench_why, r.why, sizeof bench_why);
    return r.fig;
}

/* Forks a worker; -1 with why set if it did not come up. */
static int bench_worker_up(bench_worker *w, int big, const bench_worker *o)
{
    int cp[2], rp[2];
    bench_reply r;
    w->pid = -1;
    w->cmd = w->res = -1;
    if (pipe2(cp, O_CLOEXEC) < 0)
        return (int)bench_fail("pipe2", errno);
    if (pipe2(rp, O_CLOEXEC) < 0) {
        close(cp[0]);
        close(cp[1]);
        return (int)bench_fail("pipe2", errno);
    }
    fflush(NULL); /* or the worker's fsrv_start writes it again */
    w->pid = fork();
    if (w->pid == 0) {
        /* The other worker's pipes: it must see EOF when the bench goes. */
        if (o && o->cmd >= 0) {
            close(o->cmd);
            close(o->res);
        }
        close(cp[1]);
        close(rp[0]);
        bench_worker_main(cp[0], rp[1], big);
    }
    close(cp[0]);
    close(rp[1]);
    w->cmd = cp[1];
    w->res = rp[0];
    if (w->pid < 0)
        return (int)bench_fail("fork", errno);
    if (read(w->res, &r, sizeof r) != (ssize_t)sizeof r)
        return (int)bench_dead_worker(w);
    if (r.fig < 0) {
        memcpy(bench_why, r.why, sizeof bench_why);
        bench_dead_worker(w);
        memcpy(bench_why, r.why, sizeof bench_why);
        return -1;
    }
    return 0;
}

static void bench_worker_down(bench_worker *w)
{
    int msg[2] = { bench_op_quit, 0 };
    if (w->pid > 0) {
        if (write(w->cmd, msg, sizeof msg) < 0) {
            /* already gone: the waitpid below collects it */
        }
        waitpid(w->pid, NULL, 0);
    }
    if (w->cmd >= 0) {
        close(w->cmd);
        close(w->res);
    }
    w->pid = -1;
    w->cmd = w->res = -1;
}

/* ---- rows ---------------------------------------------------------------- */

static void bench_set(bench_row *r, const char *name, const char *unit,
                      double goal, int floor)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->unit = unit;
    r->goal = goal;
    r->floor = floor;
    r->place = "-";
    bench_why[0] = 0;
}

static void bench_skip(bench_row *r)
{
    snprintf(r->skip, sizeof r->skip, "skipped: %s",
             bench_why[0] ? bench_why : "unknown failure");
}

static void bench_row_waitpid(bench_row *r)
{
    fsrv_client c;
    bench_rt x;
    fsrv_fd map;
    int blk[2], st, ok = 0;
    pid_t echo;
    bench_set(r, "waitpid", "us", 1.15, 0);
    r->place = bench_pin();
    x.c = &c;
    x.pid = -1;
    /* The peer first, so that it holds none of the client's fds. */
    if ((echo = bench_echo_peer(&x.fd)) < 0) {
        bench_fail("echo peer", errno);
    } else if (bench_start(&c) == 0) {
        if (pipe2(blk, O_CLOEXEC) < 0) {
            bench_fail("pipe2", errno);
        } else {
            map.parent_fd = blk[0];
            map.child_fd = 3;
            x.pid = bench_launch(&c, "block", &map, 1, NULL);
            close(blk[0]);
            if (x.pid < 0)
                bench_fail("fsrv_launch", errno);
            else
                ok = bench_pair(bench_waitpid_blk, &x, 500, bench_echo_blk,
                                &x, 500, 41, &r->ours, &r->ref) == 0;
            close(blk[1]); /* the child's EOF */
            if (x.pid > 0)
                fsrv_waitpid(&c, x.pid, &st, 0);
        }
        fsrv_stop(&c, SIGKILL);
    }
    if (echo > 0) {
        close(x.fd);
        waitpid(echo, &st, 0);
    }
    if (!ok)
        bench_skip(r);
    bench_unpin();
}

/* Collects whatever exited children a failed block left behind: the
   server's orphans would go to init, which may be slow to reap them, and
   until then they count against RLIMIT_NPROC for the rows that follow. */
static void bench_collect(fsrv_client *c)
{
    while (fsrv_reap(c, bench_out, bench_kids) > 0)
        ;
}

/* A row whose two sides need nothing but a client of a server started
   under the row's placement. */
static void bench_row_simple(bench_row *r, bench_fn fa, int na, bench_fn fb,
                             int nb, int blocks)
{
    fsrv_client c;
    r->place = bench_pin();
    if (bench_start(&c) == 0) {
        if (bench_pair(fa, &c, na, fb, &c, nb, blocks, &r->ours,
                       &r->ref) < 0)
            bench_skip(r);
        bench_collect(&c);
        fsrv_stop(&c, SIGKILL);
    } else {
        bench_skip(r);
    }
    bench_unpin();
}

/* One CPU, like the rest: the claim is that concurrent callers cost the
   single-threaded server nothing, and with the CPU fixed the total work
   is too, so whatever the threaded path adds (reader hand-offs, parked
   waits) shows in full.  Free, the 8 threads would also win parallelism
   that 1 thread cannot use, and the row would measure placement. */
static void bench_row_threads(bench_row *r)
{
    fsrv_client c;
    bench_thr_ctx many, one;
    bench_set(r, "threads", "/s", 0.9, 1);
    r->place = bench_pin();
    if (bench_start(&c) == 0) {
        many.c = one.c = &c;
        many.k = bench_nthreads;
        one.k = 1;
        if (bench_pair(bench_threads_blk, &many, 200, bench_threads_blk,
                       &one, 200, 25, &r->ours, &r->ref) < 0)
            bench_skip(r);
        fsrv_stop(&c, SIGKILL);
    } else {
        bench_skip(r);
    }
    bench_unpin();
}

static void bench_rows_big(bench_row *big, bench_row *flat)
{
    bench_worker small, large;
    bench_ask_ctx bl, bf, sl;
    bench_set(big, "big parent", "us", 0.01, 0);
    bench_set(flat, "flat", "us", 1.1, 0);
    big->place = flat->place = bench_pin();
    small.pid = large.pid = -1;
    small.cmd = small.res = large.cmd = large.res = -1;
    if (sysconf(_SC_PHYS_PAGES) > 0 &&
        (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) <
            2.0 * (double)bench_big) {
        bench_fail("less than 2 GiB of memory", 0);
        bench_skip(big);
        bench_skip(flat);
        bench_unpin();
        return;
    }
    if (bench_worker_up(&small, 0, NULL) < 0)
        bench_skip(flat);
    bench_why[0] = 0;
    if (bench_worker_up(&large, 1, &small) < 0) {
        bench_skip(big);
        bench_skip(flat);
    }
    bl.w = bf.w = &large;
    sl.w = &small;
    bl.op = sl.op = bench_op_launch;
    bf.op = bench_op_fork;
    if (large.pid > 0 &&
        bench_pair(bench_ask, &bl, 20, bench_ask, &bf, 2, 11, &big->ours,
                   &big->ref) < 0)
        bench_skip(big);
    bench_why[0] = 0;
    if (large.pid > 0 && small.pid > 0 &&
        bench_pair(bench_ask, &bl, 40, bench_ask, &sl, 40, 41,
                   &flat->ours, &flat->ref) < 0)
        bench_skip(flat);
    bench_worker_down(&large);
    bench_worker_down(&small);
    bench_unpin();
}

/* ---- the table ----------------------------------------------------------- */

static void bench_fmt(char *b, size_t n, double v, const char *unit)
{
    if (v >= 100)
        snprintf(b, n, "%.0f %s", v, unit);
    else if (v >= 10)
        snprintf(b, n, "%.1f %s", v, unit);
    else
        snprintf(b, n, "%.2f %s", v, unit);
}

static double bench_loadavg(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static void bench_print(const bench_row *rows, int n)
{
    struct utsname u;
    int i;
    printf("%-11s %-6s %11s %11s %7s %8s  %s\n", "row", "place", "ours",
           "against", "ratio", "goal", "result");
    for (i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char a[32], b[32], g[16];
        double q;
        if (r->skip[0]) {
            printf("%-11s %-6s %s\n", r->name, r->place, r->skip);
            continue;
        }
        q = r->ours / r->ref;
        bench_fmt(a, sizeof a, r->ours, r->unit);
        bench_fmt(b, sizeof b, r->ref, r->unit);
        snprintf(g, sizeof g, "%s %g", r->floor ? ">=" : "<=", r->goal);
        printf("%-11s %-6s %11s %11s %7.*f %8s  %s\n", r->name, r->place,
               a, b, q < 0.1 ? 4 : 3, q, g,
               (r->floor ? q >= r->goal : q <= r->goal) ? "met"
                                                         : "MISSED");
    }
    printf("\n"
"waitpid     fsrv_waitpid WNOHANG, live child | SEQPACKET echo, 2 processes\n"
"launch      FSRV_ENTRY launch + fsrv_waitpid | fork + _exit + waitpid\n"
"exec        launch + fsrv_waitpid /bin/true  | posix_spawn + waitpid\n"
"reap        fsrv_reap of %d zombies        | %d x waitpid, own zombies\n"
"big parent  launch + wait from 1 GiB client  | fork + _exit + waitpid of it\n"
"flat        launch + wait from 1 GiB client  | the same from a small one\n"
"threads     launch + wait, %d threads         | the same, 1 thread\n"
"notify      child exit to poll on notify fd  | child exit to poll on %s\n",
           bench_kids, bench_kids, bench_nthreads,
           bench_pidfd ? "pidfd" : "a pipe");
    printf("Figures: median of interleaved blocks; us per operation (reap: "
           "per %d),\nor launches per second.  1 CPU: the bench, its server, "
           "peers, children\nand workers all pinned to one CPU.\n",
           bench_kids);
    if (uname(&u) == 0)
        printf("machine: nproc %ld (%ld online), %s %s %s\n",
               CPU_COUNT(&bench_mask) ? (long)CPU_COUNT(&bench_mask)
                                      : sysconf(_SC_NPROCESSORS_ONLN),
               sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release,
               u.machine);
    printf("command: make bench (./test --bench)\n");
    /* Other work on the pinned CPU adds its slice to some of the sleeps
       and wakeups, and the "ours" sides make more of them: a reader
       needs to know whether the machine was busy. */
    if (bench_load[0] >= 0 && bench_load[1] >= 0)
        printf("load average: %.2f at start, %.2f at end; the bench "
               "adds about 1,\nand other work inflates the ratios.\n",
               bench_load[0], bench_load[1]);
}

static int bench_main(void)
{
    static bench_row rows[8];
    struct sigaction dfl, ign, old_chld, old_pipe;
    int i, fd;

    if (sched_getaffinity(0, sizeof bench_mask, &bench_mask) == 0) {
        for (i = CPU_SETSIZE - 1; i >= 0 && bench_cpu < 0; i--)
            if (CPU_ISSET(i, &bench_mask))
                bench_cpu = i;
    } else {
        CPU_ZERO(&bench_mask);
    }
    /* Our own waitpid calls need SIGCHLD at default, and a worker that
       dies must be an error, not SIGPIPE. */
    memset(&dfl, 0, sizeof dfl);
    memset(&ign, 0, sizeof ign);
    dfl.sa_handler = SIG_DFL;
    ign.sa_handler = SIG_IGN;
    sigaction(SIGCHLD, &dfl, &old_chld);
    sigaction(SIGPIPE, &ign, &old_pipe);
    fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    bench_pidfd = fd >= 0;
    if (fd >= 0)
        close(fd);

    printf("forkserver.h bench: about a minute...\n\n");
    fflush(NULL);
    bench_load[0] = bench_loadavg();

    /* Small blocks, many of them: on a shared machine a block that a
       neighbour preempted is an outlier, and the median drops it. */
    bench_row_waitpid(&rows[0]);
    bench_set(&rows[1], "launch", "us", 1.3, 0);
    bench_row_simple(&rows[1], bench_launch_blk, 40, bench_fork_blk, 40,
                     41);
    bench_set(&rows[2], "exec", "us", 1.1, 0);
    if (access(bench_true[0], X_OK) < 0) {
        bench_fail("/bin/true", errno);
        bench_skip(&rows[2]);
    } else {
        bench_row_simple(&rows[2], bench_exec_blk, 10, bench_spawn_blk, 10,
                         25);
    }
    bench_set(&rows[3], "reap", "us", 1.15, 0);
    bench_row_simple(&rows[3], bench_reap_blk, bench_kids,
                     bench_waitall_blk, bench_kids, 21);
    bench_row_threads(&rows[6]);
    bench_set(&rows[7], "notify", "us", 2, 0);
    bench_row_simple(&rows[7], bench_notify_blk, 20, bench_bare_notify_blk,
                     20, 31);
    /* Last: for a while after 1 GiB is freed, fork and exit run slower
       here (seen as +50% on the notify reference), which would tilt
       whichever row came next. */
    bench_rows_big(&rows[4], &rows[5]);
    bench_load[1] = bench_loadavg();

    bench_print(rows, 8);
    fflush(NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return 0;
}

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
    { "launch_pidfd_no_free_fd", test_launch_pidfd_no_free_fd, 10 },
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

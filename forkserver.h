/* forkserver.h - v1.0 - a fork server for Linux: launch and reap children
   from a small process started early.  MIT license, see the end of the file.

   Forking a process that has gigabytes mapped costs tens of milliseconds and
   stalls all of its threads; a parent that guesses whether a pid is still
   its child may signal whatever process reused it.  A fork server fixes
   both: a small process, forked before the program grows, starts children
   on request and holds each one unreaped, so its pid stays reserved, until
   the program has asked for its exit status.

   USAGE

   Do this in exactly one C or C++ file, as its first include or in a file
   built with -D_GNU_SOURCE:

       #define FORKSERVER_IMPLEMENTATION
       #include "forkserver.h"

   Other files include the header plainly.  Link with -pthread.

   QUICK START

       fsrv_client c;
       char *argv[] = { "/bin/echo", "hello", NULL };
       int status;
       fsrv_start(&c, NULL);               // early, while the process is small
       pid_t pid = fsrv_launch(&c, argv, NULL, NULL);
       fsrv_waitpid(&c, pid, &status, 0);  // WIFEXITED(status) etc. apply
       fsrv_stop(&c, 0);

   CONFIGURATION (define before the implementation)

       FORKSERVER_STATIC    give every definition internal linkage (off)
       FSRV_MAX_FDS         fds one launch may map into its child (250)
       FSRV_MAX_WAITERS     blocking fsrv_waitpid calls at once (4096)
       FSRV_MSG_MAX         largest datagram, bytes; a launch whose argv and
                            environment do not fit travels in a memfd (65536)

   WIRE FORMAT

   One AF_UNIX SOCK_SEQPACKET socket, one datagram per message.  Every field
   is a 32-bit integer in host order; every message starts with `type seq`.
   The client numbers its requests; a reply carries the request's seq and
   type | 0x80, so a reply is never taken for another request's.

   | message | after `type seq`                         | SCM_RIGHTS fds    |
   |---------|------------------------------------------|-------------------|
   | HELLO 1 | magic 'FSRV', version, sizeof(char *)    | none              |
   | LAUNCH 2| flags nfds argc envc body_len,           | cwd, [body memfd],|
   |         | child_fd[nfds], pad to 8, body if inline | nfds mapped fds   |
   | WAIT 3  | pid, nohang (0 or 1)                     | none              |
   | KILL 4  | pid, sig                                 | none              |
   | REAP 5  | max                                      | none              |
   | STOP 6  | -                                        | none              |
   | reply   | result, errno (0 on success), status,    | LAUNCH: the pidfd |
   |         | REAP: `result` pairs of (pid, status)    | if one was asked  |

   A WAIT reply that reports an exit has errno -1 when the server reaps the
   child only after sending it (see fsrv__deliver).

   A launch body is (argc + 1 [+ envc + 1]) pointer-sized slots, which the
   server fills in place to make argv and envp, followed by the strings, each
   ending in NUL: first the search PATH when FSRV_SEARCH_PATH is set, then
   argv, then the environment.  The body is inline when the whole datagram
   fits FSRV_MSG_MAX, otherwise it is the content of a memfd.
   The server answers a malformed message with an error reply (EPROTO,
   EINVAL, E2BIG) and closes any fd it did not ask for.

   TRUST MODEL

   The client and the server trust each other: they are one program split
   in two.  Children are not trusted: none ever holds the channel or the
   notify pipe (both are close-on-exec and are closed explicitly before an
   entry function runs), so a child cannot ask the server for anything.
   A child that runs as the same user may still take an fd from another
   process with ptrace or pidfd_getfd(2); a child that must be kept out
   needs its own uid, or a server made non-dumpable by the caller.

   LIMITATIONS

   - Linux only.  pidfds need Linux 5.3 (opts->pidfd is -1 before that);
     close_range needs 5.9 (before it, each launch closes fds one by one up
     to RLIMIT_NOFILE); launches larger than FSRV_MSG_MAX need memfd (3.17).
   - FSRV_INHERIT_FDS reads /proc/self/fd; with more than FSRV_MAX_FDS fds
     to pass it fails with E2BIG, without /proc mounted with ENOENT.
   - A client works only in the process that made it.  Nothing stops a
     fork of that process from using it, but a child it launches then is
     one the original process never hears of.
   - A pidfd needs a free fd in the caller when the reply arrives: without
     one, the launch still succeeds and *opts->pidfd is -1.
   - Output that another thread buffers in stdio between fsrv_start's flush
     and its fork may be written twice by an entry child that flushes it.
   - If the server dies between forking a child and replying, the caller
     never learns that child's pid; under FSRV_SUBREAPER it becomes an
     ordinary child of the caller, reaped only by the caller's own waitpid.
   - If it dies while answering fsrv_reap, the statuses it had collected
     are lost, and the caller can no longer tell its children from
     processes that took their pids since: under FSRV_SUBREAPER the calls
     then refuse to act on any pid (ECONNRESET) and leave the children to
     the caller's own waitpid.  fsrv_waitpid has no such window: it tells
     the status first and reaps after.
   - A child stopped by SIGSTOP between fork and exec holds up the server
     until it is continued, as it would hold up posix_spawn.
   - Blocking waits beyond FSRV_MAX_WAITERS at once fail with EAGAIN.
   - Under FSRV_SUBREAPER, a caller that ignores SIGCHLD or sets
     SA_NOCLDWAIT lets the kernel reap a dead server's children at once,
     so their statuses cannot be collected (ECHILD).
   - FSRV_MAX_FDS cannot exceed 250: a message carries at most 253 fds,
     and musl passes at most 1024 bytes of control data.

   LICENSE: MIT, at the end of this file.
*/
#ifndef FORKSERVER_H
#define FORKSERVER_H

#if defined(FORKSERVER_IMPLEMENTATION) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* vfork, pipe2, memfd_create, MSG_CMSG_CLOEXEC */
#endif

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#if defined(FORKSERVER_STATIC) && defined(__GNUC__)
#define FSRV_DEF static __attribute__((unused)) /* a caller uses a few */
#elif defined(FORKSERVER_STATIC)
#define FSRV_DEF static
#else
#define FSRV_DEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define FSRV_VERSION 1

/* fsrv_config.flags */
#define FSRV_SUBREAPER 0x1u    /* the caller adopts the children of a
                                  dead server */
/* fsrv_launch_opts.flags */
#define FSRV_ENTRY 0x1u        /* run cfg->entry in the child, no exec */
#define FSRV_SEARCH_PATH 0x2u  /* look argv[0] up in PATH, as execvp */
#define FSRV_SETSID 0x4u       /* new session and process group */
#define FSRV_SETPGID 0x8u      /* new process group, same session */
#define FSRV_INHERIT_FDS 0x10u /* pass every non-close-on-exec fd */

typedef int (*fsrv_entry_fn)(int argc, char **argv, void *arg);

typedef struct fsrv_config {
    fsrv_entry_fn entry; /* run in children launched with FSRV_ENTRY */
    void *arg;           /* passed to entry */
    unsigned flags;      /* FSRV_SUBREAPER */
} fsrv_config;

typedef struct fsrv_fd {
    int parent_fd; /* an open fd of the calling process ... */
    int child_fd;  /* ... that the child sees at this number */
} fsrv_fd;

typedef struct fsrv_launch_opts {
    const char *cwd;   /* NULL: the caller's working directory */
    const fsrv_fd *fds; /* fds to map into the child */
    int nfds;
    unsigned flags;    /* FSRV_ENTRY, FSRV_SEARCH_PATH, FSRV_SETSID,
                          FSRV_SETPGID, FSRV_INHERIT_FDS */
    int *pidfd;        /* optional out: a pidfd for the child, or -1 */
} fsrv_launch_opts;

typedef struct fsrv_exit {
    pid_t pid;
    int status; /* as waitpid(2) stores it */
} fsrv_exit;

/* Defined here so that callers can embed it; every field is private. */
typedef struct fsrv_client {
    int channel;         /* our end of the SEQPACKET socket */
    int notify;          /* read end of the exit-notification pipe */
    pid_t server;
    unsigned flags;      /* FSRV_SUBREAPER and private bits */
    int dead;            /* errno of every call once the server is gone */
    unsigned seq;        /* number of the last request sent */
    int reading;         /* a thread is in recvmsg on the channel */
    void *calls;         /* calls waiting for their reply */
    void *rx;            /* the reading thread's receive buffer */
    pid_t *pids;         /* open-addressed set of unreaped children */
    pid_t unreaped;      /* reported by the last reply, not yet reaped */
    size_t npids, cap;
    size_t inflight;     /* launches sent, pid not yet in the set */
    pthread_mutex_t lock;
} fsrv_client;

/* Forks the server from the calling process and connects c to it.  Call it
   early, from any thread.  0, or -1 with errno. */
FSRV_DEF int fsrv_start(fsrv_client *c, const fsrv_config *cfg);

/* Runs the server loop on `channel` (SOCK_SEQPACKET) and the write end
   `notify` of the notification pipe, for a server exec'd as its own
   program.  Returns 0 when the client closes the channel or stops the
   server, -1 with errno if the channel fails. */
FSRV_DEF int fsrv_serve(int channel, int notify, const fsrv_config *cfg);

/* Connects c to a server running fsrv_serve; `server` is its pid or -1.
   Checks the protocol version (EPROTO).  On failure the fds stay the
   caller's. */
FSRV_DEF int fsrv_attach(fsrv_client *c, int channel, int notify,
                         pid_t server);

/* Sends sig (0: none) to every unreaped child, stops the server, reaps it
   if it is the caller's child and releases c.  Not concurrent with other
   calls on c. */
FSRV_DEF int fsrv_stop(fsrv_client *c, int sig);

/* Starts a child, returns its pid.  A failed setup step or exec returns
   -1 with that step's errno and leaves no child.  Thread-safe. */
FSRV_DEF pid_t fsrv_launch(fsrv_client *c, char *const argv[],
                           char *const envp[], const fsrv_launch_opts *opts);

/* waitpid(2) for one child of the server; options 0 or WNOHANG.  A blocking
   call blocks only its thread.  ECHILD: not an unreaped child. */
FSRV_DEF pid_t fsrv_waitpid(fsrv_client *c, pid_t pid, int *status,
                            int options);

/* kill(2) for an unreaped child (or, with pid < 0, the group it leads);
   ESRCH for anything else.  Thread-safe. */
FSRV_DEF int fsrv_kill(fsrv_client *c, pid_t pid, int sig);

/* Reaps up to max exited children in one round trip; returns how many it
   stored in out.  Never blocks.  Thread-safe. */
FSRV_DEF int fsrv_reap(fsrv_client *c, fsrv_exit *out, int max);

/* Non-blocking, close-on-exec read end of a pipe that turns readable after
   children exit (one byte may stand for many) and reads EOF once the
   server is gone. */
FSRV_DEF int fsrv_notify_fd(const fsrv_client *c);

FSRV_DEF pid_t fsrv_server_pid(const fsrv_client *c);

#ifdef __cplusplus
}
#endif
#endif /* FORKSERVER_H */

#if defined(FORKSERVER_IMPLEMENTATION) && !defined(FORKSERVER_IMPLEMENTED)
#define FORKSERVER_IMPLEMENTED

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FSRV_MAX_FDS
#define FSRV_MAX_FDS 250 /* SCM_RIGHTS carries 253; two go to cwd, body */
#endif
#ifndef FSRV_MAX_WAITERS
#define FSRV_MAX_WAITERS 4096
#endif
#ifndef FSRV_MSG_MAX
#define FSRV_MSG_MAX 65536
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER 36
#define PR_GET_CHILD_SUBREAPER 37
#endif

#define FSRV__MAGIC 0x56525346u         /* "FSRV" */

/* ThreadSanitizer runs a signal handler only inside the calls it knows to
   block, which include ppoll but not recvmsg: under it the server always
   sleeps in ppoll, or the notify byte would wait for the next request.
   It may also run a deferred handler at the entry of its ppoll wrapper,
   after the loop has looked at the flag, so there the server also wakes
   every 10 ms to look again. */
#if defined(__SANITIZE_THREAD__)
#define FSRV__PPOLL_ALWAYS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FSRV__PPOLL_ALWAYS 1
#endif
#endif
#ifndef FSRV__PPOLL_ALWAYS
#define FSRV__PPOLL_ALWAYS 0
#endif
#define FSRV__BODY_MAX (256u << 20)     /* far above any kernel's ARG_MAX */
#define FSRV__REAP_MAX ((FSRV_MSG_MAX - 20) / 8)

/* Retries call while it fails with EINTR.  The caller's signal handlers
   need not have SA_RESTART, so any call that can block may be cut short:
   waitpid and waitid, read and write on a pipe, sendmsg and recvmsg. */
#define FSRV__RETRY(call) do { } while ((call) < 0 && errno == EINTR)

#ifdef __cplusplus
extern "C" {
#endif

extern char **environ;

/* ---- wire format --------------------------------------------------------- */

enum { FSRV__HELLO = 1, FSRV__LAUNCH, FSRV__WAIT, FSRV__KILL, FSRV__REAP,
       FSRV__STOP, FSRV__REPLY = 0x80 };

/* In a WAIT reply's errno field: the server reaps the child only after
   this reply, so if it dies first the zombie falls to a subreaper. */
#define FSRV__UNREAPED (-1)

/* Launch flags that only travel on the wire, above the public ones. */
#define FSRV__W_PIDFD 0x10000u  /* reply with a pidfd */
#define FSRV__W_BODYFD 0x20000u /* the body is in a memfd */
#define FSRV__W_ENV 0x40000u    /* an environment follows argv */
#define FSRV__W_PUBLIC (FSRV_ENTRY | FSRV_SEARCH_PATH | FSRV_SETSID | \
                        FSRV_SETPGID)

typedef struct { uint32_t type, seq; } fsrv__hdr;
typedef struct { fsrv__hdr h; uint32_t magic, version, ptrsize; } fsrv__hello;
typedef struct {
    fsrv__hdr h;
    uint32_t flags, nfds, argc, envc, body_len;
} fsrv__launch_msg;
typedef struct { fsrv__hdr h; int32_t pid, arg; } fsrv__pid_msg; /* WAIT KILL */
typedef struct { fsrv__hdr h; int32_t max; } fsrv__reap_msg;
typedef struct { fsrv__hdr h; int32_t res, err, status; } fsrv__reply;

/* Where a launch body starts: after the child fd numbers, pointer-aligned
   so that the server can build argv in place. */
static size_t fsrv__body_off(uint32_t nfds)
{
    size_t off = sizeof(fsrv__launch_msg) + 4 * (size_t)nfds;
    return (off + sizeof(char *) - 1) & ~(sizeof(char *) - 1);
}

typedef union {
    char b[CMSG_SPACE((FSRV_MAX_FDS + 2) * sizeof(int))];
    struct cmsghdr align;
} fsrv__cmsg;

/* A datagram received: its length, its msg_flags, the fds it carried. */
typedef struct {
    size_t len;
    int flags, nfds;
    int fds[FSRV_MAX_FDS + 2];
} fsrv__dgram;

/* Fails the way every public call does: -1, with errno set to err. */
static int fsrv__error(int err)
{
    errno = err;
    return -1;
}

static void fsrv__close_all(const int *fds, int n)
{
    while (n-- > 0)
        close(fds[n]);
}

/* Sends len bytes of msg as one datagram, with nfds fds.  It goes out
   whole or not at all, so threads need no lock to send.  MSG_NOSIGNAL: a
   peer gone is EPIPE, not SIGPIPE.  0, or -1 with errno. */
static int fsrv__send(int sock, const void *msg, size_t len, const int *fds,
                      int nfds)
{
    fsrv__cmsg cb;
    struct iovec iov;
    struct msghdr m;
    ssize_t r;
    iov.iov_base = (void *)msg;
    iov.iov_len = len;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (nfds) {
        struct cmsghdr *cm;
        memset(&cb, 0, sizeof cb);
        m.msg_control = cb.b;
        m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
    }
    FSRV__RETRY(r = sendmsg(sock, &m, MSG_NOSIGNAL));
    return r < 0 ? -1 : 0;
}

/* Receives one datagram of up to FSRV_MSG_MAX bytes into buf, keeping at
   most max of its fds (the kernel closes the rest and sets MSG_CTRUNC).
   Returns 1, 0 at end of file, or -1 with errno.  An empty datagram also
   reads as 0 bytes, so EOF is told apart by asking poll whether the peer
   has hung up; an empty datagram comes back as 1 with d->len 0. */
static int fsrv__recv(int sock, void *buf, int flags, int max,
                      fsrv__dgram *d)
{
    fsrv__cmsg cb;
    struct cmsghdr *cm;
    struct iovec iov;
    struct msghdr m;
    struct pollfd p;
    ssize_t n;
    iov.iov_base = buf;
    iov.iov_len = FSRV_MSG_MAX;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cb.b;
    m.msg_controllen = CMSG_SPACE((size_t)max * sizeof(int));
    FSRV__RETRY(n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags));
    if (n < 0)
        return -1;
    d->len = (size_t)n;
    d->flags = m.msg_flags;
    d->nfds = 0;
    for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        size_t i, k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        for (i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (d->nfds < max)
                d->fds[d->nfds++] = fd;
            else
                close(fd);
        }
    }
    if (n > 0 || d->nfds)
        return 1;
    p.fd = sock;
    p.events = POLLIN | POLLRDHUP;
    p.revents = 0;
    return !(poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP)));
}

/* Closes every fd in [lo, hi].  close_range is one call; before Linux 5.9
   it falls back to one close per possible fd. */
static void fsrv__close_range(unsigned lo, unsigned hi)
{
    struct rlimit rl;
    if (lo > hi || syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < hi)
        hi = (unsigned)rl.rlim_cur;
    for (; lo <= hi && lo < INT_MAX; lo++)
        close((int)lo);
}

/* Closes every fd from 3 up except those in keep[]. */
static void fsrv__close_others(const int *keep, int n)
{
    unsigned lo = 3, next;
    int i;
    do {
        next = ~0u; /* the lowest fd to keep from lo up, if any */
        for (i = 0; i < n; i++)
            if ((unsigned)keep[i] >= lo && (unsigned)keep[i] < next)
                next = (unsigned)keep[i];
        fsrv__close_range(lo, next - 1);
        lo = next + 1;
    } while (next != ~0u);
}

/* The index of v in a[0..n), or n. */
static int fsrv__find(const int *a, int n, int v)
{
    int i = 0;
    while (i < n && a[i] != v)
        i++;
    return i;
}

/* ---- server -------------------------------------------------------------- */

/* Everything below runs in the server, a single-threaded process forked
   from a program that may run threads, or between fork and exec: only
   async-signal-safe calls and no heap.  Its state is static. */

typedef struct { uint32_t seq; pid_t pid; } fsrv__waiter;

static struct {
    int channel;
    const fsrv_config *cfg;
    int nwait;
    fsrv__waiter wait[FSRV_MAX_WAITERS];
    union { char b[FSRV_MSG_MAX]; void *align; } rx, tx;
} fsrv__s;

static int fsrv__notify_wr = -1;
static volatile sig_atomic_t fsrv__chld;

/* The signals a terminal sends to its foreground group, and SIGPIPE: the
   server ignores them and every child gets them back at default. */
static const int fsrv__quiet[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN,
                                   SIGTTOU, SIGHUP, SIGPIPE };

/* The SIGCHLD writer.  It calls write(2) and nothing else, and keeps errno.
   The pipe's write end is non-blocking, so when the parent has not read
   for 64 KiB of exits the write fails with EAGAIN and the exit is folded
   into the bytes already waiting, which is all a reader needs. */
static void fsrv__on_sigchld(int sig)
{
    int saved = errno;
    char b = 0;
    (void)sig;
    fsrv__chld = 1;
    if (write(fsrv__notify_wr, &b, 1) < 0) {
        /* full or gone: either way nothing is lost that a reader needs */
    }
    errno = saved;
}

/* Sets the server's own signal state, whatever the caller's was: every
   disposition at default but the quiet ones ignored and SIGCHLD caught
   (so that SIGCHLD ignored or SA_NOCLDWAIT in the parent cannot make the
   kernel reap behind the server's back), and nothing blocked. */
static void fsrv__server_signals(void)
{
    struct sigaction sa;
    sigset_t none;
    size_t i;
    int s;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (s = 1; s < NSIG; s++) {
        /* libc keeps a few signals to itself and refuses them with EINVAL.
           A spawner (glibc's posix_spawn, for one) may have left them
           ignored, and exec keeps what is ignored: ask the kernel directly
           to set those back.  An all-zero kernel sigaction is SIG_DFL,
           whatever the architecture's layout.  Handled ones stay libc's. */
        unsigned long ksa[4] = { 0, 0, 0, 0 }, old[4] = { 0, 0, 0, 0 };
        if (s == SIGKILL || s == SIGSTOP || sigaction(s, &sa, NULL) == 0 ||
            syscall(SYS_rt_sigaction, s, NULL, old, NSIG / 8) < 0)
            continue;
        if (old[0] == (unsigned long)(uintptr_t)SIG_IGN)
            syscall(SYS_rt_sigaction, s, ksa, NULL, NSIG / 8);
    }
    sa.sa_handler = SIG_IGN;
    for (i = 0; i < sizeof fsrv__quiet / sizeof *fsrv__quiet; i++)
        sigaction(fsrv__quiet[i], &sa, NULL);
    sa.sa_handler = fsrv__on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int fsrv__send_reply(uint32_t type, uint32_t seq, int32_t res,
                            int32_t err, int32_t status, size_t extra, int fd)
{
    fsrv__reply *r = (fsrv__reply *)fsrv__s.tx.b;
    r->h.type = type | FSRV__REPLY;
    r->h.seq = seq;
    r->res = res;
    r->err = err;
    r->status = status;
    /* A client gone mid-reply shows as EOF on the next receive. */
    return fsrv__send(fsrv__s.channel, r, sizeof *r + extra, &fd, fd >= 0);
}

static int fsrv__fail(uint32_t type, uint32_t seq, int err)
{
    return fsrv__send_reply(type, seq, -1, err, 0, 0, -1);
}

/* A child has been reaped outside the blocking waits for it.  With `give`,
   the first of those waits receives the status (and 1 is returned); every
   other wait for it fails with ECHILD, as waitpid(2) would. */
static int fsrv__settle(pid_t pid, int status, int give)
{
    int i = 0, given = 0;
    while (i < fsrv__s.nwait) {
        fsrv__waiter w = fsrv__s.wait[i];
        if (w.pid != pid) {
            i++;
            continue;
        }
        fsrv__s.wait[i] = fsrv__s.wait[--fsrv__s.nwait];
        if (give && !given) {
            fsrv__send_reply(FSRV__WAIT, w.seq, pid, 0, status, 0, -1);
            given = 1;
        } else {
            fsrv__fail(FSRV__WAIT, w.seq, ECHILD);
        }
    }
    return given;
}

/* Looks at a child without reaping it: 0 while it runs, its pid once it
   has exited (with *status as waitpid would store it), -1 with ECHILD if
   it is not an unreaped child. */
static pid_t fsrv__peek(pid_t pid, int *status)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return -1;
    if (si.si_pid == 0)
        return 0;
    if (si.si_code == CLD_EXITED)
        *status = (si.si_status & 0xff) << 8;
    else
        *status = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
    return pid;
}

/* Tells the waiter of seq that pid exited, and only then reaps it: if the
   server dies between the two, the caller has the status and, under
   FSRV_SUBREAPER, the zombie; never neither. */
static void fsrv__deliver(uint32_t seq, pid_t pid, int status)
{
    fsrv__send_reply(FSRV__WAIT, seq, pid, FSRV__UNREAPED, status, 0, -1);
    FSRV__RETRY(waitpid(pid, NULL, WNOHANG));
}

/* After SIGCHLD: answer every blocking wait whose child has exited.  A
   second wait for the same child finds it reaped and gets ECHILD. */
static void fsrv__scan(void)
{
    int i = 0;
    while (i < fsrv__s.nwait) {
        fsrv__waiter w = fsrv__s.wait[i];
        int status = 0;
        pid_t r = fsrv__peek(w.pid, &status);
        if (r == 0) {
            i++;
            continue;
        }
        fsrv__s.wait[i] = fsrv__s.wait[--fsrv__s.nwait];
        if (r == w.pid)
            fsrv__deliver(w.seq, r, status);
        else
            fsrv__fail(FSRV__WAIT, w.seq, errno);
    }
}

/* Is pid an unreaped child of the calling process?  The server reaps only
   when asked, so the kernel's own list of its children is its table of
   live pids: a pid found here cannot be reused until the server reaps it,
   which it does not do while it handles this request. */
static int fsrv__unreaped(pid_t pid)
{
    int status;
    return pid > 0 && fsrv__peek(pid, &status) >= 0;
}

/* What the child needs, prepared by the server before it forks. */
typedef struct {
    uint32_t flags, argc;
    char **argv, **envp;
    const char *path;   /* PATH to search, or NULL */
    int cwd, errpipe, nfds;
    const int *src;     /* received fds, mapped in order ... */
    const int *dst;     /* ... to these numbers */
} fsrv__job;

/* execvp's search, on the caller's PATH, without the heap.  Returns with
   errno set as execvp would leave it. */
static void fsrv__exec(const fsrv__job *j)
{
    char buf[PATH_MAX];
    const char *file = j->argv[0], *p = j->path;
    size_t flen = strlen(file);
    int eacces = 0;
    if (!p || strchr(file, '/') || !*file) {
        if (!*file)
            errno = ENOENT;
        else
            execve(file, j->argv, j->envp);
        return;
    }
    for (;;) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        if (dlen + flen + 2 > sizeof buf) {
            errno = ENAMETOOLONG;
        } else {
            size_t k = 0;
            if (dlen) { /* an empty element means the current directory */
                memcpy(buf, p, dlen);
                buf[dlen] = '/';
                k = dlen + 1;
            }
            memcpy(buf + k, file, flen + 1);
            execve(buf, j->argv, j->envp);
        }
        switch (errno) {
        case EACCES:
            eacces = 1;
            break;
        case ENOENT: case ENOTDIR: case ENAMETOOLONG: case ELOOP:
        case ESTALE: case ENODEV: case ETIMEDOUT:
            break;
        default:
            return;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (eacces)
        errno = EACCES;
}

/* A copy of fd, close-on-exec, at the lowest number that no mapping of the
   job targets. */
static int fsrv__dup_clear(const fsrv__job *j, int fd)
{
    int d, from = 3;
    for (;;) {
        if ((d = fcntl(fd, F_DUPFD_CLOEXEC, from)) < 0)
            return -1;
        if (fsrv__find(j->dst, j->nfds, d) == j->nfds)
            return d;
        close(d);
        from = d + 1;
    }
}

/* The child, between fork (or vfork) and exec.  It must not return and
   must not write the server's memory, which a vfork child shares: only
   locals and syscalls.  A failure is written to the close-on-exec error
   pipe as an int errno, and the child exits 127 as a shell does for a
   command it cannot run; the server reaps it, so nobody sees that code. */
static void fsrv__child(const fsrv__job *j)
{
    struct sigaction sa;
    sigset_t none;
    int tmp[FSRV_MAX_FDS], keep[FSRV_MAX_FDS + 1];
    int i, err, ep = j->errpipe, n = j->nfds;
    size_t k;

    /* Defaults first, then the empty mask, so no server handler can run
       in the child.  All other dispositions are already at default. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (k = 0; k < sizeof fsrv__quiet / sizeof *fsrv__quiet; k++)
        sigaction(fsrv__quiet[k], &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if ((j->flags & FSRV_SETSID) && setsid() < 0)
        goto fail;
    if ((j->flags & FSRV_SETPGID) && setpgid(0, 0) < 0)
        goto fail;
    if (fchdir(j->cwd) < 0)
        goto fail;

    /* The mapping is one parallel assignment: first every source and the
       error pipe get a copy at a number that no mapping targets, so that
       no dup2 below can overwrite one not yet copied; then each lands on
       its target, where dup2 clears close-on-exec. */
    if ((i = fsrv__dup_clear(j, ep)) < 0)
        goto fail;
    ep = i;
    for (i = 0; i < n; i++)
        if ((tmp[i] = fsrv__dup_clear(j, j->src[i])) < 0)
            goto fail;
    for (i = 0; i < n; i++)
        if (dup2(tmp[i], j->dst[i]) < 0)
            goto fail;

    /* Close everything else (the channel, the notify pipe, other launches'
       fds) explicitly: close-on-exec alone would leave them to an entry
       function. */
    for (i = 0; i < n; i++)
        keep[i] = j->dst[i];
    keep[n] = ep;
    fsrv__close_others(keep, n + 1);

    if (j->flags & FSRV_ENTRY) {
        close(ep);
        environ = j->envp;
        i = fsrv__s.cfg->entry((int)j->argc, j->argv, fsrv__s.cfg->arg);
        fflush(NULL);
        /* _exit, through syscall, which the server has already bound. */
        syscall(SYS_exit_group, i & 0xff);
        _exit(i); /* not reached */
    }
    fsrv__exec(j);
fail:
    err = errno;
    FSRV__RETRY(write(ep, &err, sizeof err));
    _exit(127);
}

/* vfork for exec, as posix_spawn does: no page tables are copied, and the
   server is suspended only until the child has exec'd or failed.  An entry
   child keeps running in the server's image, so it needs a real fork. */
static pid_t fsrv__spawn(const fsrv__job *j)
{
    pid_t pid = (j->flags & FSRV_ENTRY) ? fork() : vfork();
    if (pid == 0)
        fsrv__child(j);
    return pid;
}

/* Points out[0..n) at the next n strings of [*s, end) and ends the array
   with NULL.  Every string must end inside the body. */
static int fsrv__strings(char **s, const char *end, char **out, uint64_t n)
{
    uint64_t i;
    for (i = 0; i < n; i++) {
        char *z = (char *)memchr(*s, 0, (size_t)(end - *s));
        if (!z)
            return EINVAL;
        out[i] = *s;
        *s = z + 1;
    }
    out[n] = NULL;
    return 0;
}

/* Builds argv (and envp) in the body's own slots.  The body must end with
   the last string. */
static int fsrv__parse(char *body, size_t len, fsrv__job *j, uint32_t envc)
{
    int env = (j->flags & FSRV__W_ENV) != 0;
    uint64_t nslot = (uint64_t)j->argc + 1 + (env ? (uint64_t)envc + 1 : 0);
    char **slot = (char **)(void *)body, *s, *path[2];
    if (j->argc < 1 || nslot * sizeof(char *) > len)
        return EINVAL;
    s = body + nslot * sizeof(char *);
    path[0] = NULL;
    if (((j->flags & FSRV_SEARCH_PATH) &&
         fsrv__strings(&s, body + len, path, 1)) ||
        fsrv__strings(&s, body + len, slot, j->argc) ||
        (env && fsrv__strings(&s, body + len, slot + j->argc + 1, envc)))
        return EINVAL;
    j->path = path[0];
    j->argv = slot;
    j->envp = env ? slot + j->argc + 1 : environ;
    return s == body + len ? 0 : EINVAL;
}

static void fsrv__serve_launch(const fsrv__launch_msg *m, size_t len,
                               const int *fds, int nfds)
{
    fsrv__job j; /* a vfork child reads it here, in the server's frame */
    uint32_t seq = m->h.seq;
    size_t off = fsrv__body_off(m->nfds > FSRV_MAX_FDS ? 0 : m->nfds);
    int nbody = (m->flags & FSRV__W_BODYFD) ? 1 : 0, err, i, ep[2], pidfd = -1;
    char *body = NULL, *map = NULL;
    pid_t pid = -1;

    if (m->nfds > FSRV_MAX_FDS || len < off)
        goto proto;
    if ((m->flags & ~(FSRV__W_PUBLIC | FSRV__W_PIDFD | FSRV__W_BODYFD |
                      FSRV__W_ENV)) ||
        ((m->flags & FSRV_SETSID) && (m->flags & FSRV_SETPGID)) ||
        ((m->flags & FSRV_ENTRY) && !(fsrv__s.cfg && fsrv__s.cfg->entry))) {
        err = EINVAL;
        goto out;
    }
    if (nfds != 1 + nbody + (int)m->nfds)
        goto proto;
    memset(&j, 0, sizeof j);
    j.flags = m->flags;
    j.argc = m->argc;
    j.cwd = fds[0];
    j.src = fds + 1 + nbody;
    j.dst = (const int *)(const void *)(m + 1);
    j.nfds = (int)m->nfds;
    for (i = 0; i < j.nfds; i++)
        if (j.dst[i] < 0 || fsrv__find(j.dst, i, j.dst[i]) < i) {
            err = EINVAL;
            goto out;
        }

    if (nbody) {
        struct stat st;
        if (len != off || m->body_len > FSRV__BODY_MAX)
            goto proto;
        if (fstat(fds[1], &st) < 0 || (uint64_t)st.st_size < m->body_len ||
            m->body_len == 0)
            goto proto;
        /* A private writable mapping: the slots are filled in place and
           the memfd itself is never changed. */
        map = (char *)mmap(NULL, m->body_len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE, fds[1], 0);
        if (map == MAP_FAILED) {
            map = NULL;
            err = errno;
            goto out;
        }
        body = map;
    } else {
        if (len - off != m->body_len)
            goto proto;
        body = fsrv__s.rx.b + off;
    }
    if ((err = fsrv__parse(body, m->body_len, &j, m->envc)) != 0)
        goto out;

    if (pipe2(ep, O_CLOEXEC) < 0) {
        err = errno;
        goto out;
    }
    j.errpipe = ep[1];
    pid = fsrv__spawn(&j);
    err = pid < 0 ? errno : 0;
    close(ep[1]);
    if (pid > 0) {
        int cerr = 0;
        ssize_t r;
        /* EOF: exec succeeded (or the entry child finished its setup). */
        FSRV__RETRY(r = read(ep[0], &cerr, sizeof cerr));
        if (r == (ssize_t)sizeof cerr) {
            err = cerr ? cerr : EIO;
            FSRV__RETRY(waitpid(pid, NULL, 0));
        }
    }
    close(ep[0]);
    if (!err && (m->flags & FSRV__W_PIDFD))
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* -1 before 5.3 */
    goto out;
proto:
    err = EPROTO;
out:
    /* Release everything before replying, so that the server is back at
       rest by the time the caller hears of the launch. */
    if (map)
        munmap(map, m->body_len);
    fsrv__close_all(fds, nfds);
    if (err)
        fsrv__fail(FSRV__LAUNCH, seq, err);
    else
        fsrv__send_reply(FSRV__LAUNCH, seq, pid, 0, 0, 0, pidfd);
    if (pidfd >= 0)
        close(pidfd);
}

static int fsrv__serve_wait(const fsrv__pid_msg *m)
{
    int status = 0;
    pid_t r;
    if (m->pid <= 0 || (m->arg != 0 && m->arg != 1))
        return fsrv__fail(FSRV__WAIT, m->h.seq, EINVAL);
    r = fsrv__peek(m->pid, &status);
    if (r == 0 && !m->arg) {
        if (fsrv__s.nwait == FSRV_MAX_WAITERS)
            return fsrv__fail(FSRV__WAIT, m->h.seq, EAGAIN);
        fsrv__s.wait[fsrv__s.nwait].seq = m->h.seq;
        fsrv__s.wait[fsrv__s.nwait++].pid = m->pid;
        return 0; /* answered from fsrv__scan once it exits */
    }
    if (r < 0)
        return fsrv__fail(FSRV__WAIT, m->h.seq, errno);
    if (r == 0)
        return fsrv__send_reply(FSRV__WAIT, m->h.seq, 0, 0, 0, 0, -1);
    fsrv__deliver(m->h.seq, r, status);
    fsrv__settle(r, status, 0);
    return 0;
}

static int fsrv__serve_kill(const fsrv__pid_msg *m)
{
    pid_t pid = m->pid;
    /* A group is signalled only through its unreaped leader, which keeps
       the group id from being reused. */
    if (pid == 0 || pid == INT_MIN)
        return fsrv__fail(FSRV__KILL, m->h.seq, EINVAL);
    if (!fsrv__unreaped(pid < 0 ? -pid : pid) ||
        (pid < 0 && getpgid(-pid) != -pid))
        return fsrv__fail(FSRV__KILL, m->h.seq, ESRCH);
    if (kill(pid, m->arg) < 0)
        return fsrv__fail(FSRV__KILL, m->h.seq, errno);
    return fsrv__send_reply(FSRV__KILL, m->h.seq, 0, 0, 0, 0, -1);
}

static int fsrv__serve_reap(const fsrv__reap_msg *m)
{
    int32_t *out = (int32_t *)(void *)(fsrv__s.tx.b + sizeof(fsrv__reply));
    int n = 0, max = m->max < FSRV__REAP_MAX ? m->max : FSRV__REAP_MAX;
    if (max < 0)
        return fsrv__fail(FSRV__REAP, m->h.seq, EINVAL);
    while (n < max) {
        int status = 0;
        pid_t r = waitpid(-1, &status, WNOHANG);
        if (r <= 0)
            break;
        if (fsrv__settle(r, status, 1))
            continue; /* a blocking wait for it got the status */
        out[2 * n] = r;
        out[2 * n + 1] = status;
        n++;
    }
    return fsrv__send_reply(FSRV__REAP, m->h.seq, n, 0, 0, (size_t)n * 8,
                            -1);
}

/* Handles the datagram d, which is in the receive buffer; returns 1 when
   the client asked the server to stop. */
static int fsrv__handle(const fsrv__dgram *d)
{
    /* The size of each request but LAUNCH, by type; 0: no such request. */
    static const size_t size[] = {
        0, sizeof(fsrv__hello), 0, sizeof(fsrv__pid_msg),
        sizeof(fsrv__pid_msg), sizeof(fsrv__reap_msg), sizeof(fsrv__hdr)
    };
    const fsrv__hdr *h = (const fsrv__hdr *)(void *)fsrv__s.rx.b;
    const fsrv__hello *hello = (const fsrv__hello *)(const void *)h;
    uint32_t type = d->len >= sizeof *h ? h->type : 0;
    uint32_t seq = d->len >= sizeof *h ? h->seq : 0;
    int cut = d->flags & (MSG_TRUNC | MSG_CTRUNC);

    if (!cut && type == FSRV__LAUNCH && d->len >= sizeof(fsrv__launch_msg)) {
        fsrv__serve_launch((const fsrv__launch_msg *)(const void *)h, d->len,
                           d->fds, d->nfds);
        return 0;
    }
    fsrv__close_all(d->fds, d->nfds); /* no other request carries fds */
    if (cut || d->nfds || type >= sizeof size / sizeof *size ||
        !size[type] || d->len != size[type] ||
        (type == FSRV__HELLO && (hello->magic != FSRV__MAGIC ||
                                 hello->version != FSRV_VERSION ||
                                 hello->ptrsize != sizeof(char *)))) {
        fsrv__fail(type, seq, (d->flags & MSG_TRUNC) ? E2BIG : EPROTO);
        return 0;
    }
    switch (type) {
    case FSRV__HELLO:
        fsrv__send_reply(type, seq, FSRV_VERSION, 0, 0, 0, -1);
        break;
    case FSRV__WAIT:
        fsrv__serve_wait((const fsrv__pid_msg *)(const void *)h);
        break;
    case FSRV__KILL:
        fsrv__serve_kill((const fsrv__pid_msg *)(const void *)h);
        break;
    case FSRV__REAP:
        fsrv__serve_reap((const fsrv__reap_msg *)(const void *)h);
        break;
    case FSRV__STOP:
        fsrv__send_reply(type, seq, 0, 0, 0, 0, -1);
        return 1;
    }
    return 0;
}

/* The loop.  With no blocking wait pending it sleeps in recvmsg itself,
   SIGCHLD unblocked, and the handler only has to write the notify byte.
   While waits are pending, SIGCHLD is blocked except inside ppoll, so an
   exit can never slip between checking the flag and going to sleep. */
static int fsrv__loop(void)
{
    fsrv__dgram d;
    sigset_t none, chld;
    struct timespec tick = { 0, 10000000 };
    int blocked = 0;
    sigemptyset(&none);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        int r, dontwait = 0;
        if ((fsrv__s.nwait || FSRV__PPOLL_ALWAYS) != blocked) {
            blocked = !blocked;
            sigprocmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &chld, NULL);
        }
        if (blocked) {
            struct pollfd p;
            if (fsrv__chld) {
                fsrv__chld = 0;
                fsrv__scan();
                continue;
            }
            p.fd = fsrv__s.channel;
            p.events = POLLIN;
            r = ppoll(&p, 1, FSRV__PPOLL_ALWAYS ? &tick : NULL, &none);
            if (r <= 0) {
                if (r == 0)
                    fsrv__chld = 1;
                if (r == 0 || errno == EINTR)
                    continue;
                return -1;
            }
            dontwait = MSG_DONTWAIT;
        }
        r = fsrv__recv(fsrv__s.channel, fsrv__s.rx.b, dontwait,
                       FSRV_MAX_FDS + 2, &d);
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r < 0 && errno != ECONNRESET)
            return -1;
        if (r <= 0 || fsrv__handle(&d))
            return 0;
    }
}

/* Both sides keep their fds close-on-exec, as every fd of ours is, and
   the notify pipe non-blocking: the SIGCHLD writer must never block, and
   neither may a reader of fsrv_notify_fd.  0, or -1 with errno. */
static int fsrv__own_fds(int channel, int notify)
{
    if (fcntl(channel, F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(notify, F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(notify, F_SETFL, fcntl(notify, F_GETFL) | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

FSRV_DEF int fsrv_serve(int channel, int notify, const fsrv_config *cfg)
{
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(channel, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
        return -1;
    if (type != SOCK_SEQPACKET || (cfg && cfg->flags & ~FSRV_SUBREAPER))
        return fsrv__error(EINVAL);
    if (fsrv__own_fds(channel, notify) < 0)
        return -1;
    fsrv__s.channel = channel;
    fsrv__s.cfg = cfg;
    fsrv__s.nwait = 0;
    fsrv__notify_wr = notify;
    fsrv__chld = 0;
    fsrv__server_signals();
    /* Call once, to no effect, what an entry child calls that the server
       does not, so that lazy binding resolves them here: a fork child's
       own binding dies with it, and would cost every launch again. */
    if (fchdir(-1) == 0 || dup2(-1, -1) == 0 || setpgid(-1, -1) == 0) {
    }
    return fsrv__loop();
}

/* ---- client -------------------------------------------------------------- */

/* Calls in flight.  Requests go out from any thread; the thread that finds
   nobody reading becomes the reader, receives whatever reply comes next
   into c->rx and hands it to the call whose seq it carries.  So a blocking
   wait parked in the server delays no other thread's call. */
typedef struct fsrv__call {
    struct fsrv__call *next;
    pthread_cond_t cond;
    uint32_t type, seq;
    int done, err, fd;
    int parked; /* in pthread_cond_wait, so a signal reaches it */
    int32_t res, status;
    fsrv_exit *out; /* REAP: where the pairs go */
    int max;
} fsrv__call;

#define FSRV__OWN 0x100u   /* c->server is the caller's child */
#define FSRV__SETTLED 0x200u /* the dead server's children are ours now */
#define FSRV__UNSURE 0x400u  /* it died answering a REAP: see below */

static void fsrv__lock(fsrv_client *c) { pthread_mutex_lock(&c->lock); }
static void fsrv__unlock(fsrv_client *c) { pthread_mutex_unlock(&c->lock); }

/* -- the set of unreaped children, kept for fsrv_stop and for the time
   after the server's death.  Open addressing, linear probing, 0 = free. */

static size_t fsrv__slot(const fsrv_client *c, pid_t pid)
{
    size_t i = ((uint32_t)pid * 2654435761u) & (c->cap - 1);
    while (c->pids[i] && c->pids[i] != pid)
        i = (i + 1) & (c->cap - 1);
    return i;
}

/* Makes room for one more pid, so that an insert after a launch cannot
   fail with the child already running.  Launches in flight count: each
   holds its room until its pid is in.  The set stays at most half full,
   so a probe always ends. */
static int fsrv__reserve(fsrv_client *c)
{
    size_t i, cap = c->cap ? c->cap * 2 : 64;
    pid_t *old = c->pids;
    size_t oldcap = c->cap;
    if ((c->npids + c->inflight + 1) * 2 <= c->cap) {
        c->inflight++;
        return 0;
    }
    if (!(c->pids = (pid_t *)calloc(cap, sizeof *c->pids))) {
        c->pids = old;
        return -1;
    }
    c->cap = cap;
    for (i = 0; i < oldcap; i++)
        if (old[i])
            c->pids[fsrv__slot(c, old[i])] = old[i];
    free(old);
    c->inflight++;
    return 0;
}

static int fsrv__tracked(const fsrv_client *c, pid_t pid)
{
    return c->cap && pid > 0 && c->pids[fsrv__slot(c, pid)] == pid;
}

static void fsrv__untrack(fsrv_client *c, pid_t pid)
{
    size_t i, j, h, mask;
    fsrv__lock(c);
    mask = c->cap - 1;
    if (fsrv__tracked(c, pid)) {
        i = fsrv__slot(c, pid);
        c->pids[i] = 0;
        c->npids--;
        /* Shift later members of the probe run back into the hole. */
        for (j = (i + 1) & mask; c->pids[j]; j = (j + 1) & mask) {
            h = ((uint32_t)c->pids[j] * 2654435761u) & mask;
            if (((j - h) & mask) >= ((j - i) & mask)) {
                c->pids[i] = c->pids[j];
                c->pids[j] = 0;
                i = j;
            }
        }
    }
    fsrv__unlock(c);
}

/* -- calls */

static int fsrv__finish(fsrv__call *k, int err)
{
    k->err = err;
    k->done = 1;
    return pthread_cond_signal(&k->cond);
}

/* Hands the reply d, which is in c->rx, to its call.  Lock held. */
static int fsrv__dispatch(fsrv_client *c, const fsrv__dgram *d)
{
    const fsrv__reply *r = (const fsrv__reply *)c->rx;
    fsrv__call *k = NULL;
    int err = 0;
    if (d->len >= sizeof *r)
        for (k = (fsrv__call *)c->calls; k; k = k->next)
            if (!k->done && k->seq == r->h.seq)
                break;
    /* A datagram cut short is garbage, but for one case: a launch's pidfd
       that found no free fd here (MSG_CTRUNC) is lost, the launch is not.
       It returns its pid, and -1 for the pidfd. */
    if (k && ((d->flags & MSG_TRUNC) ||
              ((d->flags & MSG_CTRUNC) && k->type != FSRV__LAUNCH)))
        k = NULL;
    /* Each reply, an error too, means the server finished the request
       before it, so only the child of the latest reply can still await
       its reaping (set below). */
    if (k)
        c->unreaped = 0;
    if (k && (r->h.type != (k->type | FSRV__REPLY) || d->nfds > 1 ||
              (d->nfds && k->type != FSRV__LAUNCH)))
        err = EPROTO;
    else if (k && r->res < 0)
        err = r->err > 0 ? r->err : EPROTO;
    if (!k || err) {
        /* Without k, it was cut short or stray: nobody asked for it. */
        fsrv__close_all(d->fds, d->nfds);
        return k ? fsrv__finish(k, err) : 0;
    }
    k->res = r->res;
    k->status = r->status;
    if (d->nfds)
        k->fd = d->fds[0];
    if (k->type == FSRV__WAIT && r->res > 0 && r->err == FSRV__UNREAPED)
        c->unreaped = r->res;
    if (k->type == FSRV__REAP) {
        const int32_t *p = (const int32_t *)(const void *)(r + 1);
        int i;
        if (r->res > k->max || d->len != sizeof *r + 8 * (size_t)r->res)
            return fsrv__finish(k, EPROTO);
        for (i = 0; i < r->res; i++) {
            k->out[i].pid = p[2 * i];
            k->out[i].status = p[2 * i + 1];
        }
    }
    return fsrv__finish(k, 0);
}

/* The server is gone: every call in flight fails.  Lock held. */
static void fsrv__mark_dead(fsrv_client *c, int err)
{
    fsrv__call *k;
    if (!c->dead)
        c->dead = err;
    for (k = (fsrv__call *)c->calls; k; k = k->next)
        if (!k->done) {
            if (k->type == FSRV__REAP)
                c->flags |= FSRV__UNSURE;
            fsrv__finish(k, c->dead);
        }
}

/* Sends the request msg, len bytes with nfds fds, and waits for its
   reply.  0, or -1 with errno. */
static int fsrv__call_server(fsrv_client *c, fsrv__call *k, void *msg,
                             size_t len, const int *fds, int nfds)
{
    fsrv__call **pp;
    int sent;

    k->type = ((fsrv__hdr *)msg)->type;
    k->done = 0;
    k->parked = 0;
    k->fd = -1;
    pthread_cond_init(&k->cond, NULL);
    fsrv__lock(c);
    if (c->dead) {
        fsrv__unlock(c);
        pthread_cond_destroy(&k->cond);
        return fsrv__error(c->dead);
    }
    k->seq = ++c->seq;
    ((fsrv__hdr *)msg)->seq = k->seq;
    k->next = (fsrv__call *)c->calls;
    c->calls = k;
    fsrv__unlock(c);

    sent = fsrv__send(c->channel, msg, len, fds, nfds);
    fsrv__lock(c);
    if (sent < 0)
        fsrv__finish(k, errno);
    while (!k->done) {
        fsrv__dgram d;
        int r, e;
        if (c->reading) {
            k->parked = 1;
            pthread_cond_wait(&k->cond, &c->lock);
            k->parked = 0;
            continue;
        }
        c->reading = 1;
        fsrv__unlock(c);
        r = fsrv__recv(c->channel, c->rx, 0, 4, &d);
        e = errno;
        fsrv__lock(c);
        c->reading = 0;
        /* A server that dies with requests unread leaves ECONNRESET on our
           socket, reported once and ahead of the replies it had already
           sent.  Those may carry statuses it has reaped: read on until the
           real end of file. */
        if (r > 0)
            fsrv__dispatch(c, &d);
        else if (r == 0 || e != ECONNRESET)
            fsrv__mark_dead(c, r == 0 ? ECONNRESET : e);
    }
    /* Unlink, and pass the reader's place to a call parked on its condvar.
       Not to one still in sendmsg: it would miss the signal, and if the
       server is itself stuck sending into our full queue, nobody would
       read again.  A call still sending becomes the reader by itself. */
    for (pp = (fsrv__call **)&c->calls; *pp != k; pp = &(*pp)->next)
        ;
    *pp = k->next;
    if (!c->reading)
        for (pp = (fsrv__call **)&c->calls; *pp; pp = &(*pp)->next)
            if (!(*pp)->done && (*pp)->parked) {
                pthread_cond_signal(&(*pp)->cond);
                break;
            }
    fsrv__unlock(c);
    pthread_cond_destroy(&k->cond);
    return k->err ? fsrv__error(k->err) : 0;
}

static int fsrv__gone(int err)
{
    return err == ECONNRESET || err == EPIPE;
}

/* After the server's death under FSRV_SUBREAPER: once the server itself
   has finished exiting, each of its children has been handed to us.  The
   one it had reported but not yet reaped is reaped here, its status
   already delivered.  Returns whether the pids in our set can be trusted
   to be those children.  Lock held. */
static int fsrv__settle_death(fsrv_client *c)
{
    siginfo_t si;
    fsrv__call *k;
    if (!(c->flags & FSRV_SUBREAPER))
        return 0;
    if (c->flags & FSRV__SETTLED)
        return !(c->flags & FSRV__UNSURE);
    /* A REAP the server was answering when it died took statuses that
       never arrived.  Those pids, still in our set, may have been reused
       by anything since: rather than risk acting on one, act on none. */
    for (k = (fsrv__call *)c->calls; k; k = k->next)
        if (!k->done && k->type == FSRV__REAP)
            c->flags |= FSRV__UNSURE;
    if (c->flags & FSRV__OWN)
        FSRV__RETRY(waitid(P_PID, (id_t)c->server, &si, WEXITED | WNOWAIT));
    if (c->unreaped > 0)
        waitpid(c->unreaped, NULL, WNOHANG);
    c->flags |= FSRV__SETTLED;
    return !(c->flags & FSRV__UNSURE);
}

/* After a call that failed with errno: has the server died, leaving pid,
   a member of our set, as our own unreaped child, safe to wait for or
   kill?  errno stays as it was when the answer is 0. */
static int fsrv__adopted(fsrv_client *c, pid_t pid)
{
    int ok;
    if (!fsrv__gone(errno))
        return 0;
    fsrv__lock(c);
    ok = fsrv__tracked(c, pid) && fsrv__settle_death(c);
    fsrv__unlock(c);
    return ok;
}

FSRV_DEF int fsrv_attach(fsrv_client *c, int channel, int notify,
                         pid_t server)
{
    fsrv__hello h;
    fsrv__call k;
    int err, sub = 0;
    if (!c || channel < 0 || notify < 0)
        return fsrv__error(EINVAL);
    memset(c, 0, sizeof *c);
    c->channel = channel;
    c->notify = notify;
    c->server = server;
    if (fsrv__own_fds(channel, notify) < 0)
        return -1;
    if (!(c->rx = malloc(FSRV_MSG_MAX)))
        return fsrv__error(ENOMEM);
    /* Whether the server is our child (fsrv_stop reaps it, and its exit
       hands its children over) and whether orphans come to us. */
    if (fsrv__unreaped(server))
        c->flags |= FSRV__OWN;
    if (prctl(PR_GET_CHILD_SUBREAPER, &sub, 0, 0, 0) == 0 && sub)
        c->flags |= FSRV_SUBREAPER;
    pthread_mutex_init(&c->lock, NULL);
    h.h.type = FSRV__HELLO;
    h.magic = FSRV__MAGIC;
    h.version = FSRV_VERSION;
    h.ptrsize = sizeof(char *);
    if (fsrv__call_server(c, &k, &h, sizeof h, NULL, 0) < 0)
        err = errno;
    else
        err = k.res == FSRV_VERSION ? 0 : EPROTO;
    if (!err)
        return 0;
    pthread_mutex_destroy(&c->lock);
    free(c->rx);
    c->rx = NULL;
    return fsrv__error(err);
}

FSRV_DEF int fsrv_start(fsrv_client *c, const fsrv_config *cfg)
{
    int sv[2], np[2], err;
    sigset_t all, old;
    pid_t pid;
    if (!c || (cfg && cfg->flags & ~FSRV_SUBREAPER))
        return fsrv__error(EINVAL);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    if (pipe2(np, O_CLOEXEC | O_NONBLOCK) < 0) {
        err = errno;
        goto fail_sock;
    }
    if (cfg && (cfg->flags & FSRV_SUBREAPER) &&
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        err = errno;
        goto fail_pipe;
    }
    /* Whatever stdio holds now is written once, here, and never again by
       the server or an entry child that flushes its copy. */
    fflush(NULL);
    /* No handler of the caller's may run in the server before it has set
       its own signal state. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        int keep[2];
        keep[0] = sv[1];
        keep[1] = np[1];
        /* Drop every fd of the caller's: the server must not hold the
           write end of somebody's pipe open, nor the client's end. */
        fsrv__close_others(keep, 2);
        if (chdir("/") < 0) { /* only so as to pin no mount point */ }
        _exit(fsrv_serve(sv[1], np[1], cfg) < 0 ? 1 : 0);
    }
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    close(np[1]);
    if (pid > 0 && fsrv_attach(c, sv[0], np[0], pid) == 0)
        return 0;
    if (pid > 0)
        err = errno;
    close(sv[0]);
    close(np[0]);
    /* The server exits once its channel closes. */
    if (pid > 0)
        FSRV__RETRY(waitpid(pid, NULL, 0));
    return fsrv__error(err);
fail_pipe:
    close(np[0]);
    close(np[1]);
fail_sock:
    close(sv[0]);
    close(sv[1]);
    return fsrv__error(err);
}

/* Adds to map[] every fd of the caller that is not close-on-exec and not
   already a target, at its own number. */
static int fsrv__inherit(fsrv_fd *map, int *n)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int i, err = 0;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name), fl;
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
            continue;
        if ((fl = fcntl(fd, F_GETFD)) < 0 || (fl & FD_CLOEXEC))
            continue;
        for (i = 0; i < *n && map[i].child_fd != fd; i++)
            ;
        if (i < *n)
            continue;
        if (*n == FSRV_MAX_FDS) {
            err = E2BIG;
            break;
        }
        map[*n].parent_fd = map[*n].child_fd = fd;
        ++*n;
    }
    closedir(d);
    return err ? fsrv__error(err) : 0;
}

FSRV_DEF pid_t fsrv_launch(fsrv_client *c, char *const argv[],
                           char *const envp[], const fsrv_launch_opts *opts)
{
    fsrv_fd map[FSRV_MAX_FDS];
    int fds[FSRV_MAX_FDS + 2], nfds = 0, nmap = 0, i, err, *dst;
    unsigned flags = opts ? opts->flags : 0;
    const char *path = NULL;
    size_t argc = 0, envc = 0, slots, strs = 0, off, body_len, total, at;
    char *buf;
    pid_t pid = -1;
    fsrv__launch_msg *m;
    fsrv__call k;

    if (!c || !argv || !argv[0] ||
        (flags & ~(FSRV__W_PUBLIC | FSRV_INHERIT_FDS)) ||
        (opts && (opts->nfds < 0 || opts->nfds > FSRV_MAX_FDS ||
                  (opts->nfds && !opts->fds))))
        return fsrv__error(EINVAL);
    for (i = 0; opts && i < opts->nfds; i++) {
        if (opts->fds[i].parent_fd < 0 || opts->fds[i].child_fd < 0)
            return fsrv__error(EINVAL);
        map[nmap++] = opts->fds[i];
    }
    if ((flags & FSRV_INHERIT_FDS) && fsrv__inherit(map, &nmap) < 0)
        return -1;
    if ((flags & FSRV_SEARCH_PATH) && !strchr(argv[0], '/') &&
        !(path = getenv("PATH")))
        path = "/bin:/usr/bin"; /* what execvp assumes without PATH */
    if (!path)
        flags &= ~FSRV_SEARCH_PATH;

    /* Lay out the body: the slots the server fills, then the strings. */
    for (; argv[argc]; argc++)
        strs += strlen(argv[argc]) + 1;
    for (; envp && envp[envc]; envc++)
        strs += strlen(envp[envc]) + 1;
    if (path)
        strs += strlen(path) + 1;
    slots = argc + 1 + (envp ? envc + 1 : 0);
    body_len = slots * sizeof(char *) + strs;
    off = fsrv__body_off((uint32_t)nmap);
    if (body_len > FSRV__BODY_MAX || argc > UINT32_MAX / 2)
        return fsrv__error(E2BIG);
    /* Inline when the datagram fits, else only the header goes inline. */
    total = off + body_len <= FSRV_MSG_MAX ? off + body_len : off;
    if (!(buf = (char *)calloc(1, off + body_len)))
        return -1;
    m = (fsrv__launch_msg *)(void *)buf;
    m->h.type = FSRV__LAUNCH;
    m->flags = (flags & FSRV__W_PUBLIC) | (envp ? FSRV__W_ENV : 0) |
               (opts && opts->pidfd ? FSRV__W_PIDFD : 0) |
               (total == off ? FSRV__W_BODYFD : 0);
    m->nfds = (uint32_t)nmap;
    m->argc = (uint32_t)argc;
    m->envc = (uint32_t)envc;
    m->body_len = (uint32_t)body_len;
    at = off + slots * sizeof(char *); /* slots travel zeroed */
#define FSRV__PUT(s) do { size_t l_ = strlen(s) + 1; \
        memcpy(buf + at, (s), l_); at += l_; } while (0)
    if (path)
        FSRV__PUT(path);
    for (i = 0; i < (int)argc; i++)
        FSRV__PUT(argv[i]);
    for (i = 0; i < (int)envc; i++)
        FSRV__PUT(envp[i]);
#undef FSRV__PUT

    /* cwd travels as an fd, so that "the caller's directory" and relative
       paths mean what they mean here, whatever the server's directory. */
    fds[nfds] = open(opts && opts->cwd ? opts->cwd : ".",
                     O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fds[nfds] < 0)
        goto out;
    nfds++;
    if (total == off) {
        /* Too big for one datagram: the body goes in a memfd. */
        size_t done;
        ssize_t w;
        if ((fds[nfds] = memfd_create("fsrv-launch", MFD_CLOEXEC)) < 0)
            goto out;
        nfds++;
        for (done = 0; done < body_len; done += (size_t)w) {
            FSRV__RETRY(w = write(fds[1], buf + off + done, body_len - done));
            if (w < 0)
                goto out;
        }
    }
    dst = (int *)(void *)(m + 1);
    for (i = 0; i < nmap; i++) {
        dst[i] = map[i].child_fd;
        fds[nfds + i] = map[i].parent_fd;
    }

    fsrv__lock(c);
    err = fsrv__reserve(c);
    fsrv__unlock(c);
    if (err < 0) {
        errno = ENOMEM;
        goto out;
    }
    if (fsrv__call_server(c, &k, buf, total, fds, nfds + nmap) == 0)
        pid = k.res;
    err = errno;
    fsrv__lock(c);
    c->inflight--;
    if (pid > 0 && !fsrv__tracked(c, pid)) {
        c->pids[fsrv__slot(c, pid)] = pid;
        c->npids++;
    }
    fsrv__unlock(c);
    errno = err;
    if (pid > 0 && opts && opts->pidfd)
        *opts->pidfd = k.fd;
    else if (k.fd >= 0)
        close(k.fd);
out:
    err = errno;
    fsrv__close_all(fds, nfds);
    free(buf);
    errno = err;
    return pid;
}

FSRV_DEF pid_t fsrv_waitpid(fsrv_client *c, pid_t pid, int *status,
                            int options)
{
    fsrv__pid_msg m;
    fsrv__call k;
    pid_t r;
    if (!c || pid <= 0 || (options & ~WNOHANG))
        return fsrv__error(EINVAL);
    m.h.type = FSRV__WAIT;
    m.pid = pid;
    m.arg = (options & WNOHANG) ? 1 : 0;
    if (fsrv__call_server(c, &k, &m, sizeof m, NULL, 0) == 0)
        r = k.res;
    else if (fsrv__adopted(c, pid))
        FSRV__RETRY(r = waitpid(pid, &k.status, options));
    else
        return -1;
    if (r > 0 && status)
        *status = k.status;
    if (r > 0)
        fsrv__untrack(c, r);
    return r;
}

FSRV_DEF int fsrv_kill(fsrv_client *c, pid_t pid, int sig)
{
    fsrv__pid_msg m;
    fsrv__call k;
    if (!c || pid == 0 || pid == INT_MIN || sig < 0 || sig >= NSIG)
        return fsrv__error(EINVAL);
    m.h.type = FSRV__KILL;
    m.pid = pid;
    m.arg = sig;
    if (fsrv__call_server(c, &k, &m, sizeof m, NULL, 0) == 0)
        return 0;
    if (pid < 0 || !fsrv__adopted(c, pid))
        return -1;
    /* Ours and unreaped (a zombie still answers), so the pid is not
       reused. */
    if (!fsrv__unreaped(pid))
        return fsrv__error(ESRCH);
    return kill(pid, sig);
}

FSRV_DEF int fsrv_reap(fsrv_client *c, fsrv_exit *out, int max)
{
    fsrv__reap_msg m;
    fsrv__call k;
    int i, n = 0;
    if (!c || max < 0 || (max && !out))
        return fsrv__error(EINVAL);
    if (!max)
        return 0;
    m.h.type = FSRV__REAP;
    m.max = max;
    k.out = out;
    k.max = max;
    if (fsrv__call_server(c, &k, &m, sizeof m, NULL, 0) == 0) {
        n = k.res;
    } else {
        size_t s;
        if (!fsrv__gone(errno))
            return -1;
        fsrv__lock(c);
        if (!fsrv__settle_death(c)) {
            fsrv__unlock(c);
            return fsrv__error(ECONNRESET);
        }
        for (s = 0; s < c->cap && n < max; s++) /* every one is ours */
            if (c->pids[s] &&
                waitpid(c->pids[s], &out[n].status, WNOHANG) > 0)
                out[n++].pid = c->pids[s];
        fsrv__unlock(c);
    }
    for (i = 0; i < n; i++)
        fsrv__untrack(c, out[i].pid);
    return n;
}

FSRV_DEF int fsrv_stop(fsrv_client *c, int sig)
{
    fsrv__hdr h;
    fsrv__call k;
    size_t i;
    int err = 0;
    if (!c || !c->rx || sig < 0 || sig >= NSIG)
        return fsrv__error(EINVAL);
    /* Nothing else runs on c, and a kill does not change the set. */
    for (i = 0; sig && i < c->cap; i++)
        if (c->pids[i])
            fsrv_kill(c, c->pids[i], sig);
    h.type = FSRV__STOP;
    if (fsrv__call_server(c, &k, &h, sizeof h, NULL, 0) < 0) {
        if (!fsrv__gone(errno))
            err = errno;
        fsrv__settle_death(c);
    }
    close(c->channel);
    /* The server exits on its own once the channel closes, so this wait
       is short.  Only our own child is ours to reap. */
    if (c->flags & FSRV__OWN)
        FSRV__RETRY(waitpid(c->server, NULL, 0));
    close(c->notify);
    pthread_mutex_destroy(&c->lock);
    free(c->rx);
    free(c->pids);
    memset(c, 0, sizeof *c);
    c->channel = c->notify = -1;
    return err ? fsrv__error(err) : 0;
}

FSRV_DEF int fsrv_notify_fd(const fsrv_client *c)
{
    return c ? c->notify : -1;
}

FSRV_DEF pid_t fsrv_server_pid(const fsrv_client *c)
{
    return c ? c->server : -1;
}

#ifdef __cplusplus
}
#endif
#endif /* FORKSERVER_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 the forkserver.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
*/

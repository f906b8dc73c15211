/*
 * A test fixture for tests/isolation.rs: makes one raw system call (or one
 * network attempt) and reports what happened.
 *
 *   probe io_uring            io_uring_setup(1, &params)
 *   probe ptrace              ptrace(PTRACE_TRACEME)
 *   probe vm_readv            process_vm_readv on this process's own memory
 *   probe x32                 getpid through the x32 ABI (nr 0x40000000|39)
 *   probe int80               getpid through the i386 ABI (int $0x80, eax=20)
 *   probe tcp PORT            connect to 127.0.0.1:PORT over TCP
 *   probe udp PORT            send one datagram to 127.0.0.1:PORT
 *   probe unix PATH           connect a Unix stream socket to PATH
 *   probe unix-dgram PATH     send one datagram from a Unix SOCK_DGRAM socket
 *   probe unix-raw PATH       send one datagram from a Unix SOCK_RAW socket
 *                             (the kernel turns AF_UNIX SOCK_RAW into
 *                             SOCK_DGRAM) with sendmsg
 *   probe abstract NAME       connect a Unix stream socket to "\0NAME"
 *   probe unix-fd PATH        open PATH with O_PATH, connect a Unix stream
 *                             socket to /proc/self/fd/N of it
 *   probe unix-own PATH       bind a Unix stream socket at PATH, listen,
 *                             connect a second one to PATH and accept it
 *   probe abstract-bind NAME  bind a Unix stream socket to "\0NAME", listen
 *   probe autobind            bind a Unix stream socket to an address of the
 *                             family alone (the kernel picks an abstract name)
 *   probe passcred-listen PATH
 *                             bind a socket file at PATH (not listening),
 *                             connect an SO_PASSCRED socket to it (which
 *                             gives that socket a kernel-chosen abstract
 *                             name), then listen on it
 *   probe unix-own-table PATH
 *                             listen at PATH; a thread that unshared its
 *                             descriptor table (CLONE_FILES) puts a second
 *                             socket at the number of the process's first
 *                             and connects it to PATH; prints whether the
 *                             thread's connect succeeded and whether the
 *                             process's socket got connected instead
 *   probe unix-bindrace PATH DIR
 *                             bind DIR/<name of PATH> through /proc/C/fd/100
 *                             while a child C flips its descriptor 100
 *                             between DIR and PATH's directory, then try to
 *                             connect to PATH; 3000 rounds, stops at the
 *                             first connect that succeeds
 *   probe unix-race PATH OWN  connect 2000 times while a second thread
 *                             flips the address between PATH and OWN (a
 *                             socket this probe binds first); prints how
 *                             many connects succeeded
 *
 *   probe umask-exec-thread DIR
 *                             start a thread without CLONE_FS (a umask of its
 *                             own), set its umask to 077 and create
 *                             DIR/thread; create DIR/leader in the main
 *                             thread (umask 022); then exec this probe from
 *                             the thread, which takes over the process's id,
 *                             and create DIR/after-exec and the directory
 *                             DIR/after-exec-dir (0666 and 0777 asked)
 *
 * Prints one line, "<what>: ok ..." or "<what>: <step>: <ERRNO_NAME>", and
 * exits 0 when the call succeeded, 1 when it failed with an errno, 2 on a
 * usage error. A process killed by seccomp prints nothing and dies of
 * SIGSYS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static const char *errno_name(int err) {
    switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case ENOSYS: return "ENOSYS";
    case ENOTSOCK: return "ENOTSOCK";
    case EPROTOTYPE: return "EPROTOTYPE";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ENOTCONN: return "ENOTCONN";
    case EISCONN: return "EISCONN";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "EUNKNOWN";
    }
}

static int failed(const char *what, const char *step) {
    int err = errno;
    printf("%s: %s: %s (errno %d)\n", what, step, errno_name(err), err);
    return 1;
}

static int ok(const char *what, long value) {
    printf("%s: ok %ld\n", what, value);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: probe io_uring|ptrace|vm_readv|x32|int80|"
                    "tcp PORT|udp PORT|unix PATH|unix-dgram PATH|unix-raw PATH|"
                    "abstract NAME|unix-fd PATH|unix-own PATH|abstract-bind NAME|"
                    "unix-race PATH OWN|autobind|unix-bindrace PATH DIR|passcred-listen PATH|unix-own-table PATH\n");
    return 2;
}

static int inet_addr_of(const char *port, struct sockaddr_in *addr) {
    char *end = NULL;
    long value = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || value <= 0 || value > 65535) {
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((unsigned short)value);
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

/* A path address, or an abstract one when `abstract` is set. */
static int unix_addr_of(const char *name, int abstract, struct sockaddr_un *addr,
                        socklen_t *len) {
    size_t n = strlen(name);
    size_t offset = abstract ? 1 : 0;
    if (n + offset + 1 > sizeof(addr->sun_path)) {
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path + offset, name, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + offset + n +
                       (abstract ? 0 : 1));
    return 0;
}

static int probe_io_uring(void) {
    unsigned char params[120]; /* struct io_uring_params */
    memset(params, 0, sizeof(params));
    long fd = syscall(SYS_io_uring_setup, 1, params);
    if (fd < 0) {
        return failed("io_uring", "io_uring_setup");
    }
    close((int)fd);
    return ok("io_uring", fd);
}

static int probe_ptrace(void) {
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0) {
        return failed("ptrace", "ptrace(PTRACE_TRACEME)");
    }
    return ok("ptrace", 0);
}

static int probe_vm_readv(void) {
    char source[16] = "probe-memory";
    char target[16] = {0};
    struct iovec local = {.iov_base = target, .iov_len = sizeof(target)};
    struct iovec remote = {.iov_base = source, .iov_len = sizeof(source)};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (n < 0) {
        return failed("vm_readv", "process_vm_readv");
    }
    return ok("vm_readv", (long)n);
}

static int probe_x32(void) {
    long pid = syscall(0x40000000L | 39L);
    if (pid < 0) {
        return failed("x32", "syscall(0x40000000|39)");
    }
    return ok("x32", pid);
}

static int probe_int80(void) {
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        return failed("int80", "int $0x80");
    }
    return ok("int80", ret);
#else
    printf("int80: not x86_64\n");
    return 2;
#endif
}

static int probe_tcp(const char *port) {
    struct sockaddr_in addr;
    if (inet_addr_of(port, &addr) < 0) {
        return usage();
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return failed("tcp", "socket");
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        return failed("tcp", "connect");
    }
    close(fd);
    return ok("tcp", 0);
}

static int probe_udp(const char *port) {
    struct sockaddr_in addr;
    if (inet_addr_of(port, &addr) < 0) {
        return usage();
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        return failed("udp", "socket");
    }
    ssize_t n = sendto(fd, "probe", 5, 0, (struct sockaddr *)&addr, sizeof(addr));
    if (n < 0) {
        return failed("udp", "sendto");
    }
    close(fd);
    return ok("udp", (long)n);
}

static int probe_unix_stream(const char *what, const char *name, int abstract) {
    struct sockaddr_un addr;
    socklen_t len;
    if (unix_addr_of(name, abstract, &addr, &len) < 0) {
        return usage();
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return failed(what, "socket");
    }
    if (connect(fd, (struct sockaddr *)&addr, len) < 0) {
        return failed(what, "connect");
    }
    close(fd);
    return ok(what, 0);
}

static int probe_unix_datagram(const char *what, const char *path, int type) {
    struct sockaddr_un addr;
    socklen_t len;
    if (unix_addr_of(path, 0, &addr, &len) < 0) {
        return usage();
    }
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0) {
        return failed(what, "socket");
    }
    /* sendmsg, not sendto: a filter might deny one and forget the other. */
    struct iovec iov = {.iov_base = "probe", .iov_len = 5};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = &addr;
    msg.msg_namelen = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = sendmsg(fd, &msg, 0);
    if (n < 0) {
        return failed(what, "sendmsg");
    }
    close(fd);
    return ok(what, (long)n);
}

static int probe_unix_fd(const char *path) {
    int target = open(path, O_PATH);
    if (target < 0) {
        return failed("unix-fd", "open");
    }
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", target);
    return probe_unix_stream("unix-fd", link, 0);
}

/* A listening Unix stream socket bound to `name`, or -1. */
static int listen_at(const char *name, int abstract) {
    struct sockaddr_un addr;
    socklen_t len;
    if (unix_addr_of(name, abstract, &addr, &len) < 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, 64) < 0) {
        return -1;
    }
    return fd;
}

static int probe_unix_own(const char *path) {
    int server = listen_at(path, 0);
    if (server < 0) {
        return failed("unix-own", "bind");
    }
    struct sockaddr_un addr;
    socklen_t len;
    unix_addr_of(path, 0, &addr, &len);
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    if (client < 0 || connect(client, (struct sockaddr *)&addr, len) < 0) {
        return failed("unix-own", "connect");
    }
    int accepted = accept(server, NULL, NULL);
    if (accepted < 0) {
        return failed("unix-own", "accept");
    }
    return ok("unix-own", 0);
}

static int probe_abstract_bind(const char *name) {
    if (listen_at(name, 1) < 0) {
        return failed("abstract-bind", "bind");
    }
    return ok("abstract-bind", 0);
}

static int probe_autobind(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(sa_family_t)) < 0) {
        return failed("autobind", "bind");
    }
    return ok("autobind", 0);
}

static int probe_passcred_listen(const char *path) {
    struct sockaddr_un addr;
    socklen_t len;
    if (unix_addr_of(path, 0, &addr, &len) < 0) {
        return usage();
    }
    int idle = socket(AF_UNIX, SOCK_STREAM, 0);
    if (idle < 0 || bind(idle, (struct sockaddr *)&addr, len) < 0) {
        return failed("passcred-listen", "bind");
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0) {
        return failed("passcred-listen", "setsockopt");
    }
    connect(fd, (struct sockaddr *)&addr, len); /* refused: nothing listens */
    if (listen(fd, 4) < 0) {
        return failed("passcred-listen", "listen");
    }
    return ok("passcred-listen", 0);
}

/* What the thread of probe_unix_own_table does and finds. */
struct own_table {
    const char *path;
    int number;
    int result;
    int err;
};

static void *connect_in_own_table(void *arg) {
    struct own_table *job = arg;
    struct sockaddr_un addr;
    socklen_t len;
    unix_addr_of(job->path, 0, &addr, &len);
    job->result = -1;
    if (unshare(CLONE_FILES) < 0 || close(job->number) < 0) {
        job->err = errno;
        return NULL;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd != job->number) {
        job->err = EBADF;
        return NULL;
    }
    job->result = connect(fd, (struct sockaddr *)&addr, len);
    job->err = errno;
    return NULL;
}

static int probe_unix_own_table(const char *path) {
    if (listen_at(path, 0) < 0) {
        return failed("unix-own-table", "bind");
    }
    int first = socket(AF_UNIX, SOCK_STREAM, 0);
    struct own_table job = {.path = path, .number = first};
    pthread_t thread;
    if (first < 0 || pthread_create(&thread, NULL, connect_in_own_table, &job) != 0) {
        return failed("unix-own-table", "start");
    }
    pthread_join(thread, NULL);
    struct sockaddr_un peer;
    socklen_t peer_len = sizeof(peer);
    int first_connected = getpeername(first, (struct sockaddr *)&peer, &peer_len) == 0;
    printf("unix-own-table: thread %s, process socket %s\n",
           job.result == 0 ? "connected" : errno_name(job.err),
           first_connected ? "CONNECTED" : "untouched");
    return first_connected ? 1 : 0;
}

/* Whether a stream socket connects to `path`. */
static int connects_to(const char *path) {
    struct sockaddr_un addr;
    socklen_t len;
    if (unix_addr_of(path, 0, &addr, &len) < 0) {
        return 0;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int connected = fd >= 0 && connect(fd, (struct sockaddr *)&addr, len) == 0;
    int err = errno;
    close(fd);
    errno = err;
    return connected;
}

static int probe_unix_bindrace(const char *path, const char *dir) {
    char copy[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (strlen(path) >= sizeof(copy)) {
        return usage();
    }
    strcpy(copy, path);
    char *name = basename(copy);
    char other[sizeof(copy)];
    strcpy(other, path);
    char *host_dir = dirname(other);
    int empty = open(dir, O_PATH | O_DIRECTORY);
    int host = open(host_dir, O_PATH | O_DIRECTORY);
    if (empty < 0 || host < 0) {
        return failed("unix-bindrace", "open");
    }
    pid_t flipper = fork();
    if (flipper == 0) {
        for (;;) {
            dup2(empty, 100);
            dup2(host, 100);
        }
    }
    char through[sizeof(copy)];
    char bound[512];
    snprintf(through, sizeof(through), "/proc/%d/fd/100/%s", (int)flipper, name);
    snprintf(bound, sizeof(bound), "%s/%s", dir, name);
    for (int round = 1; round <= 3000; round++) {
        struct sockaddr_un addr;
        socklen_t len;
        unix_addr_of(through, 0, &addr, &len);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(fd, (struct sockaddr *)&addr, len) == 0) {
            if (connects_to(path)) {
                kill(flipper, SIGKILL);
                return ok("unix-bindrace", round);
            }
            unlink(bound);
        }
        close(fd);
    }
    kill(flipper, SIGKILL);
    connects_to(path);
    return failed("unix-bindrace", "connect");
}

/* The address the racing thread flips. */
static struct sockaddr_un race_addr;
static struct sockaddr_un race_targets[2];
static volatile int race_done;

static void *flip_address(void *unused) {
    (void)unused;
    for (unsigned i = 0; !race_done; i++) {
        memcpy(&race_addr, &race_targets[i & 1], sizeof(race_addr));
    }
    return NULL;
}

static int probe_unix_race(const char *path, const char *own) {
    socklen_t len;
    if (unix_addr_of(path, 0, &race_targets[0], &len) < 0 ||
        unix_addr_of(own, 0, &race_targets[1], &len) < 0) {
        return usage();
    }
    if (listen_at(own, 0) < 0) {
        return failed("unix-race", "bind");
    }
    memcpy(&race_addr, &race_targets[1], sizeof(race_addr));
    pthread_t thread;
    if (pthread_create(&thread, NULL, flip_address, NULL) != 0) {
        return failed("unix-race", "pthread_create");
    }
    long connected = 0;
    for (int i = 0; i < 2000; i++) {
        /* Non-blocking: once a backlog is full, connect fails (EAGAIN)
         * instead of waiting for an accept that never comes. */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            return failed("unix-race", "socket");
        }
        if (connect(fd, (struct sockaddr *)&race_addr, sizeof(race_addr)) == 0) {
            connected++;
        }
        close(fd);
    }
    race_done = 1;
    pthread_join(thread, NULL);
    return ok("unix-race", connected);
}

static const char *umask_self;
static const char *umask_dir;
static volatile int umask_stage;

static void umask_create(const char *name) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", umask_dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
}

static int umask_thread(void *unused) {
    (void)unused;
    syscall(SYS_umask, 077);
    umask_create("thread");
    umask_stage = 1;
    while (umask_stage != 2) {
    }
    char *const args[] = {(char *)umask_self, "umask-after-exec", (char *)umask_dir, NULL};
    execv(umask_self, args);
    _exit(3);
}

static int probe_umask_exec_thread(const char *self, const char *dir) {
    umask_self = self;
    umask_dir = dir;
    umask(022);
    size_t size = 1 << 20;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return failed("umask-exec-thread", "mmap");
    int flags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_FILES;
    if (clone(umask_thread, stack + size, flags, NULL) < 0)
        return failed("umask-exec-thread", "clone");
    while (umask_stage != 1) {
    }
    umask_create("leader");
    umask_stage = 2;
    for (;;) pause();
}

static int probe_umask_after_exec(const char *dir) {
    umask_dir = dir;
    umask_create("after-exec");
    char path[4096];
    snprintf(path, sizeof(path), "%s/after-exec-dir", dir);
    if (mkdir(path, 0777) != 0) return failed("umask-after-exec", "mkdir");
    return ok("umask-exec-thread", 0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2) {
        const char *cmd = argv[1];
        if (strcmp(cmd, "io_uring") == 0) return probe_io_uring();
        if (strcmp(cmd, "ptrace") == 0) return probe_ptrace();
        if (strcmp(cmd, "vm_readv") == 0) return probe_vm_readv();
        if (strcmp(cmd, "x32") == 0) return probe_x32();
        if (strcmp(cmd, "int80") == 0) return probe_int80();
        if (strcmp(cmd, "autobind") == 0) return probe_autobind();
    } else if (argc == 3) {
        const char *cmd = argv[1];
        const char *arg = argv[2];
        if (strcmp(cmd, "tcp") == 0) return probe_tcp(arg);
        if (strcmp(cmd, "udp") == 0) return probe_udp(arg);
        if (strcmp(cmd, "unix") == 0) return probe_unix_stream("unix", arg, 0);
        if (strcmp(cmd, "abstract") == 0) return probe_unix_stream("abstract", arg, 1);
        if (strcmp(cmd, "unix-dgram") == 0)
            return probe_unix_datagram("unix-dgram", arg, SOCK_DGRAM);
        if (strcmp(cmd, "unix-raw") == 0)
            return probe_unix_datagram("unix-raw", arg, SOCK_RAW);
        if (strcmp(cmd, "unix-fd") == 0) return probe_unix_fd(arg);
        if (strcmp(cmd, "unix-own") == 0) return probe_unix_own(arg);
        if (strcmp(cmd, "abstract-bind") == 0) return probe_abstract_bind(arg);
        if (strcmp(cmd, "passcred-listen") == 0) return probe_passcred_listen(arg);
        if (strcmp(cmd, "unix-own-table") == 0) return probe_unix_own_table(arg);
        if (strcmp(cmd, "umask-exec-thread") == 0)
            return probe_umask_exec_thread(argv[0], arg);
        if (strcmp(cmd, "umask-after-exec") == 0) return probe_umask_after_exec(arg);
    } else if (argc == 4 && strcmp(argv[1], "unix-race") == 0) {
        return probe_unix_race(argv[2], argv[3]);
    } else if (argc == 4 && strcmp(argv[1], "unix-bindrace") == 0) {
        return probe_unix_bindrace(argv[2], argv[3]);
    }
    return usage();
}

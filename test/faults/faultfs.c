/*
 * faultfs: an LD_PRELOAD shim that makes the disk fail on purpose, for
 * cairn's fault-injection tests. It stands between the process (Node,
 * libuv's thread pool, LevelDB) and libc, so every write point of a real
 * command can be made to fail or to end the process, LevelDB's included.
 *
 * A "point" is one call that changes a file under FAULTFS_ROOT: a write
 * (write, pwrite, writev, pwritev, and fflush/fclose of a stdio stream, which
 * is how LevelDB writes), a sync (fsync, fdatasync), a rename, a
 * create (open with O_CREAT, mkdir), a truncate. Points are numbered from 1
 * in the order they happen.
 *
 *   FAULTFS_ROOT=DIR     only files under DIR count (required: nothing
 *                        happens without it)
 *   FAULTFS_LOG=FILE     append "N op path" for every point
 *   FAULTFS_FAIL=N       point N fails with FAULTFS_ERRNO (ENOSPC or EIO;
 *                        default ENOSPC) without doing anything
 *   FAULTFS_STICKY=1     every point after N fails too (a disk that stays full)
 *   FAULTFS_KILL=N       the process kills itself with SIGKILL at point N,
 *                        before doing it
 *   FAULTFS_OPS=a,b      count only these ops (write,sync,rename,create,truncate)
 *
 * The variables are removed from the environment at load, so programs the
 * process starts (a training script) run on a healthy disk.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static char root[PATH_MAX];
static size_t root_len;
static int log_fd = -1;
static long fail_at = -1, kill_at = -1;
static int fail_errno = ENOSPC, sticky = 0;
static char ops[128] = "write,sync,rename,create,truncate";
static long counter = 0;

static ssize_t (*real_write)(int, const void *, size_t);

__attribute__((constructor)) static void faultfs_init(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  const char *r = getenv("FAULTFS_ROOT");
  if (r && *r && realpath(r, root)) root_len = strlen(root);
  const char *v;
  if ((v = getenv("FAULTFS_LOG")) && *v) log_fd = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if ((v = getenv("FAULTFS_FAIL")) && *v) fail_at = atol(v);
  if ((v = getenv("FAULTFS_KILL")) && *v) kill_at = atol(v);
  if ((v = getenv("FAULTFS_STICKY")) && *v == '1') sticky = 1;
  if ((v = getenv("FAULTFS_ERRNO")) && strcmp(v, "EIO") == 0) fail_errno = EIO;
  if ((v = getenv("FAULTFS_OPS")) && *v) snprintf(ops, sizeof ops, "%s", v);
  const char *names[] = {"LD_PRELOAD", "FAULTFS_ROOT", "FAULTFS_LOG", "FAULTFS_FAIL", "FAULTFS_KILL", "FAULTFS_STICKY", "FAULTFS_ERRNO", "FAULTFS_OPS"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unsetenv(names[i]);
}

static int under_root(const char *path) {
  if (root_len == 0 || path == NULL) return 0;
  char buf[PATH_MAX];
  const char *p = path;
  if (path[0] != '/') {
    if (!getcwd(buf, sizeof buf)) return 0;
    size_t n = strlen(buf);
    if (n + 1 + strlen(path) >= sizeof buf) return 0;
    buf[n] = '/';
    strcpy(buf + n + 1, path);
    p = buf;
  }
  return strncmp(p, root, root_len) == 0 && (p[root_len] == '/' || p[root_len] == '\0');
}

static int fd_path(int fd, char *out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, size - 1);
  if (n < 0) return -1;
  out[n] = '\0';
  return 0;
}

static int fd_counts(int fd, char *path, size_t size) {
  if (root_len == 0 || fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return 0;
  return fd_path(fd, path, size) == 0 && under_root(path);
}

static int op_enabled(const char *op) {
  size_t n = strlen(op);
  for (const char *p = ops; (p = strstr(p, op)) != NULL; p += n) {
    if ((p == ops || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
  }
  return 0;
}

/* Returns 0 to go on with the call, or -1 with errno set to fail it. */
static int point(const char *op, const char *path) {
  if (!op_enabled(op)) return 0;
  long n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
  if (log_fd >= 0) {
    char line[PATH_MAX + 64];
    int len = snprintf(line, sizeof line, "%ld %s %s\n", n, op, path);
    if (len > 0) real_write(log_fd, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
  }
  if (kill_at > 0 && n == kill_at) kill(getpid(), SIGKILL);
  if (fail_at > 0 && (n == fail_at || (sticky && n > fail_at))) {
    errno = fail_errno;
    return -1;
  }
  return 0;
}

static int fd_point(const char *op, int fd) {
  char path[PATH_MAX];
  if (!fd_counts(fd, path, sizeof path)) return 0;
  return point(op, path);
}

#define REAL(name) static __typeof__(name) *real; if (!real) real = dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
  if (fd_point("write", fd)) return -1;
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  REAL(pwrite);
  if (fd_point("write", fd)) return -1;
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  REAL(pwrite64);
  if (fd_point("write", fd)) return -1;
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  REAL(writev);
  if (fd_point("write", fd)) return -1;
  return real(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
  REAL(pwritev);
  if (fd_point("write", fd)) return -1;
  return real(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
  REAL(pwritev64);
  if (fd_point("write", fd)) return -1;
  return real(fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
  REAL(pwritev2);
  if (fd_point("write", fd)) return -1;
  return real(fd, iov, cnt, off, flags);
}

int fsync(int fd) {
  REAL(fsync);
  if (fd_point("sync", fd)) return -1;
  return real(fd);
}

int fdatasync(int fd) {
  REAL(fdatasync);
  if (fd_point("sync", fd)) return -1;
  return real(fd);
}

int ftruncate(int fd, off_t len) {
  REAL(ftruncate);
  if (fd_point("truncate", fd)) return -1;
  return real(fd, len);
}

int ftruncate64(int fd, off_t len) {
  REAL(ftruncate64);
  if (fd_point("truncate", fd)) return -1;
  return real(fd, len);
}

int rename(const char *from, const char *to) {
  REAL(rename);
  if (under_root(to) && point("rename", to)) return -1;
  return real(from, to);
}

int renameat(int dfd, const char *from, int tdfd, const char *to) {
  REAL(renameat);
  if (to && to[0] == '/' && under_root(to) && point("rename", to)) return -1;
  return real(dfd, from, tdfd, to);
}

int renameat2(int dfd, const char *from, int tdfd, const char *to, unsigned flags) {
  REAL(renameat2);
  if (to && to[0] == '/' && under_root(to) && point("rename", to)) return -1;
  return real(dfd, from, tdfd, to, flags);
}

int mkdir(const char *path, mode_t mode) {
  REAL(mkdir);
  if (under_root(path) && point("create", path)) return -1;
  return real(path, mode);
}

static int open_point(const char *path, int flags) {
  return (flags & O_CREAT) && under_root(path) && point("create", path);
}

int open(const char *path, int flags, ...) {
  REAL(open);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (open_point(path, flags)) return -1;
  return real(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  REAL(open64);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (open_point(path, flags)) return -1;
  return real(path, flags, mode);
}

int openat(int dfd, const char *path, int flags, ...) {
  REAL(openat);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (path[0] == '/' && open_point(path, flags)) return -1;
  return real(dfd, path, flags, mode);
}

int openat64(int dfd, const char *path, int flags, ...) {
  REAL(openat64);
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (path[0] == '/' && open_point(path, flags)) return -1;
  return real(dfd, path, flags, mode);
}

/* LevelDB writes through stdio: its bytes reach the file at fflush (or fclose). */
static int stream_point(FILE *f) {
  return f != NULL && fd_point("write", fileno(f));
}

int fflush(FILE *f) {
  REAL(fflush);
  if (stream_point(f)) return EOF;
  return real(f);
}

int fflush_unlocked(FILE *f) {
  REAL(fflush_unlocked);
  if (stream_point(f)) return EOF;
  return real(f);
}

int fclose(FILE *f) {
  REAL(fclose);
  if (stream_point(f)) {
    /* The failed bytes must not reach the disk after all when the stream closes. */
    __fpurge(f);
    real(f);
    errno = fail_errno;
    return EOF;
  }
  return real(f);
}

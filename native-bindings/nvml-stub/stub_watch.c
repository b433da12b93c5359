#define _GNU_SOURCE
#include "stub_watch.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define CHANGES \
  (IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
/* The directory went away or events were lost: the watch no longer speaks for the files. */
#define BLIND (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW)

int stub_watch_open(const char *file) {
  char dir[PATH_MAX];
  size_t len = strlen(file);
  if (len == 0 || len >= sizeof dir) return -1;
  memcpy(dir, file, len + 1);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) {
    strcpy(dir, ".");
  } else if (slash == dir) {
    dir[1] = '\0';
  } else {
    *slash = '\0';
  }
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return -1;
  if (inotify_add_watch(fd, dir, CHANGES) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void stub_sleep_ms(unsigned int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int stub_watch_wait(int *watch, unsigned int timeout_ms, unsigned int fallback_ms) {
  if (*watch < 0) {
    stub_sleep_ms(timeout_ms < fallback_ms ? timeout_ms : fallback_ms);
    return 1;
  }
  struct pollfd p = {.fd = *watch, .events = POLLIN};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return 0;
  /* The queue is emptied and, if the directory went, the watch given up: later waits poll the files instead. */
  if (rc > 0) stub_watch_changed(watch);
  return 1;
}

int stub_watch_changed(int *watch) {
  if (*watch < 0) return 1;
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  int changed = 0, blind = 0;
  ssize_t n;
  while ((n = read(*watch, buf, sizeof buf)) > 0) {
    changed = 1;
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      if (ev->mask & BLIND) blind = 1;
      p += sizeof *ev + ev->len;
    }
  }
  if (blind) {
    close(*watch);
    *watch = -1;
  }
  return changed;
}

void stub_watch_close(int watch) {
  if (watch >= 0) close(watch);
}

#define _GNU_SOURCE
#include "stub_events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/nvml_abi.h"

#define CHUNK 4096

void stub_events_cursor_at_end(const char *path, stub_events_cursor *cursor) {
  struct stat st;
  int exists = stat(path, &st) == 0;
  cursor->offset = exists ? (long long)st.st_size : 0;
  cursor->inode = exists ? (unsigned long long)st.st_ino : 0;
}

static int parse_event(char *line, stub_event *out) {
  char *save = NULL;
  char *index = strtok_r(line, " ", &save);
  char *type = strtok_r(NULL, " ", &save);
  char *data = strtok_r(NULL, " ", &save);
  if (index == NULL || type == NULL || data == NULL || strtok_r(NULL, " ", &save) != NULL) return 0;
  char *end;
  errno = 0;
  unsigned long idx = strtoul(index, &end, 10);
  if (errno != 0 || *end != '\0' || index[0] == '-' || idx > 0xffff) return 0;
  errno = 0;
  unsigned long long value = strtoull(data, &end, 10);
  if (errno != 0 || *end != '\0' || data[0] == '-') return 0;
  if (strcmp(type, "xid") == 0) out->type = nvmlEventTypeXidCriticalError;
  else if (strcmp(type, "ecc_single") == 0) out->type = nvmlEventTypeSingleBitEccError;
  else if (strcmp(type, "ecc_double") == 0) out->type = nvmlEventTypeDoubleBitEccError;
  else return 0;
  out->conf_index = (unsigned int)idx;
  out->data = value;
  return 1;
}

int stub_events_next(const char *path, stub_events_cursor *cursor, stub_event *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  int found = 0;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return 0;
  }
  if ((unsigned long long)st.st_ino != cursor->inode || st.st_size < cursor->offset) {
    cursor->inode = (unsigned long long)st.st_ino;
    cursor->offset = 0;
  }
  long long *offset = &cursor->offset;
  char buf[CHUNK];
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf - 1, *offset);
    if (n <= 0) break;
    char *nl = memchr(buf, '\n', (size_t)n);
    if (nl == NULL) {
      /* A full chunk without a line end is junk no writer of this format makes: skip it. */
      if ((size_t)n == sizeof buf - 1) {
        *offset += n;
        continue;
      }
      break; /* a line still being written */
    }
    *nl = '\0';
    *offset += (nl - buf) + 1;
    if (memchr(buf, '\0', (size_t)(nl - buf)) != NULL) continue;
    if (nl > buf && nl[-1] == '\r') nl[-1] = '\0';
    if (parse_event(buf, out)) {
      found = 1;
      break;
    }
  }
  close(fd);
  return found;
}

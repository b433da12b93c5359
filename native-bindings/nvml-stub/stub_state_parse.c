#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/stub_conf_locate.h"
#include "stub_state.h"

#define MAX_LINE 1024
#define MAX_DELAY_MS 600000u

/* Parses all of `s` as an unsigned number in `base` no larger than `max`. */
static int parse_number(const char *s, int base, unsigned long long max, unsigned long long *out) {
  if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ') return 0;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, base);
  if (errno != 0 || end == s || *end != '\0' || v > max) return 0;
  *out = v;
  return 1;
}

static int parse_uint(const char *s, unsigned int *out) {
  unsigned long long v;
  if (!parse_number(s, 10, 0xffffffffull, &v)) return 0;
  *out = (unsigned int)v;
  return 1;
}

static int parse_hex32(const char *s, unsigned int *out) {
  unsigned long long v;
  if (!parse_number(s, 16, 0xffffffffull, &v)) return 0;
  *out = (unsigned int)v;
  return 1;
}

static int copy_text(char *dst, const char *src) {
  size_t n = strlen(src);
  if (n == 0 || n >= STUB_TEXT_LEN) return 0;
  memcpy(dst, src, n + 1);
  return 1;
}

/* Accepts `DDDD:BB:DD.F` with a 4- or 8-digit domain, as sysfs and NVML write them. */
static int parse_bus_id(const char *s, stub_device *d) {
  unsigned int domain, bus, dev, fn;
  char tail;
  size_t len = strlen(s);
  if (len != 12 && len != 16) return 0;
  if (sscanf(s, "%x:%x:%x.%x%c", &domain, &bus, &dev, &fn, &tail) != 4) return 0;
  if (bus > 0xff || dev > 0x1f || fn > 7) return 0;
  d->pci_domain = domain;
  d->pci_bus = bus;
  d->pci_device = dev;
  d->pci_function = fn;
  return 1;
}

static stub_device *device_slot(stub_state *st, unsigned int conf_index) {
  unsigned int pos = 0;
  while (pos < st->device_count && st->devices[pos].conf_index < conf_index) pos++;
  if (pos < st->device_count && st->devices[pos].conf_index == conf_index) return &st->devices[pos];
  if (st->device_count == STUB_MAX_DEVICES) return NULL;
  memmove(&st->devices[pos + 1], &st->devices[pos], (st->device_count - pos) * sizeof(stub_device));
  memset(&st->devices[pos], 0, sizeof(stub_device));
  st->devices[pos].conf_index = conf_index;
  st->device_count++;
  return &st->devices[pos];
}

static const char *set_device_key(stub_device *d, const char *key, const char *value) {
  unsigned long long big;
  unsigned int bit;
  int ok;
  if (strcmp(key, "uuid") == 0) bit = KEY_UUID, ok = copy_text(d->uuid, value);
  else if (strcmp(key, "name") == 0) bit = KEY_NAME, ok = copy_text(d->name, value);
  else if (strcmp(key, "pci_bus_id") == 0) bit = KEY_PCI_BUS_ID, ok = parse_bus_id(value, d);
  else if (strcmp(key, "pci_device_id") == 0) bit = KEY_PCI_DEVICE_ID, ok = parse_hex32(value, &d->pci_device_id);
  else if (strcmp(key, "pci_subsystem_id") == 0) bit = KEY_PCI_SUBSYSTEM_ID, ok = parse_hex32(value, &d->pci_subsystem_id);
  else if (strcmp(key, "minor") == 0) bit = KEY_MINOR, ok = parse_uint(value, &d->minor);
  else if (strcmp(key, "memory_total_mib") == 0) {
    bit = KEY_MEMORY_TOTAL;
    ok = parse_number(value, 10, 1ull << 40, &big);
    if (ok) d->memory_total_mib = big;
  } else if (strcmp(key, "memory_used_mib") == 0) {
    bit = KEY_MEMORY_USED;
    ok = parse_number(value, 10, 1ull << 40, &big);
    if (ok) d->memory_used_mib = big;
  } else if (strcmp(key, "util_gpu") == 0) bit = KEY_UTIL_GPU, ok = parse_uint(value, &d->util_gpu) && d->util_gpu <= 100;
  else if (strcmp(key, "util_memory") == 0) bit = KEY_UTIL_MEMORY, ok = parse_uint(value, &d->util_memory) && d->util_memory <= 100;
  else if (strcmp(key, "temperature") == 0) bit = KEY_TEMPERATURE, ok = parse_uint(value, &d->temperature);
  else if (strcmp(key, "power_mw") == 0) bit = KEY_POWER, ok = parse_uint(value, &d->power_mw);
  else if (strcmp(key, "clock_sm") == 0) bit = KEY_CLOCK_SM, ok = parse_uint(value, &d->clock_sm);
  else if (strcmp(key, "clock_mem") == 0) bit = KEY_CLOCK_MEM, ok = parse_uint(value, &d->clock_mem);
  else if (strcmp(key, "ecc_corrected") == 0) {
    bit = KEY_ECC_CORRECTED;
    ok = parse_number(value, 10, ~0ull, &big);
    if (ok) d->ecc_corrected = big;
  } else if (strcmp(key, "ecc_uncorrected") == 0) {
    bit = KEY_ECC_UNCORRECTED;
    ok = parse_number(value, 10, ~0ull, &big);
    if (ok) d->ecc_uncorrected = big;
  } else if (strcmp(key, "virtualization_mode") == 0) {
    bit = KEY_VIRTUALIZATION_MODE;
    ok = parse_uint(value, &d->virtualization_mode) && d->virtualization_mode <= 4;
  } else if (strcmp(key, "event_types") == 0) {
    bit = KEY_EVENT_TYPES;
    ok = parse_number(value, 16, 0xffffffffull, &d->event_types);
  } else if (strcmp(key, "lost") == 0) {
    unsigned int flag;
    if (!parse_uint(value, &flag) || flag > 1) return "lost takes 0 or 1";
    d->lost = (int)flag;
    return NULL;
  } else {
    return "unknown device key";
  }
  if (!ok) return "bad value for device key";
  d->keys |= bit;
  return NULL;
}

static const char *set_rule(stub_rule *rules, unsigned int *count, const char *function, const char *value,
                            unsigned int max_value) {
  unsigned int v;
  if (strlen(function) == 0 || strlen(function) >= STUB_FUNCTION_LEN) return "bad function name";
  if (!parse_uint(value, &v) || v == 0 || v > max_value) return "bad rule value";
  for (unsigned int i = 0; i < *count; i++) {
    if (strcmp(rules[i].function, function) == 0) {
      rules[i].value = v;
      return NULL;
    }
  }
  if (*count == STUB_MAX_RULES) return "too many rules";
  strcpy(rules[*count].function, function);
  rules[*count].value = v;
  (*count)++;
  return NULL;
}

/* Splits off the first space-separated word of `*rest`; NULL when there is none. */
static char *next_word(char **rest) {
  char *s = *rest;
  if (s == NULL || *s == '\0') return NULL;
  char *space = strchr(s, ' ');
  if (space == NULL) {
    *rest = s + strlen(s);
  } else {
    *space = '\0';
    *rest = space + 1;
  }
  return s;
}

static const char *parse_statement(stub_state *st, char *line) {
  char *rest = line;
  char *word = next_word(&rest);
  if (strcmp(word, "driver_version") == 0) return copy_text(st->driver_version, rest) ? NULL : "bad driver_version";
  if (strcmp(word, "nvml_version") == 0) return copy_text(st->nvml_version, rest) ? NULL : "bad nvml_version";
  if (strcmp(word, "cuda_driver_version") == 0) {
    unsigned int v;
    if (!parse_uint(rest, &v) || v == 0 || v > 999999) return "bad cuda_driver_version";
    st->cuda_driver_version = (int)v;
    return NULL;
  }
  if (strcmp(word, "fail") == 0 || strcmp(word, "delay") == 0) {
    char *function = next_word(&rest);
    if (function == NULL) return "missing function name";
    return word[0] == 'f' ? set_rule(st->fails, &st->fail_count, function, rest, 0xffffffffu)
                          : set_rule(st->delays, &st->delay_count, function, rest, MAX_DELAY_MS);
  }
  if (strcmp(word, "device") == 0) {
    char *index_text = next_word(&rest);
    char *key = next_word(&rest);
    unsigned int index;
    if (index_text == NULL || !parse_uint(index_text, &index) || index > STUB_MAX_DEVICE_INDEX) return "bad device index";
    if (key == NULL) return "missing device key";
    /* Edit a copy so a rejected line cannot leave behind a device with no keys. */
    stub_device copy;
    int pos = stub_device_position(st, index);
    if (pos >= 0) {
      copy = st->devices[pos];
    } else {
      memset(&copy, 0, sizeof copy);
      copy.conf_index = index;
    }
    const char *reason = set_device_key(&copy, key, rest);
    if (reason != NULL) return reason;
    stub_device *d = device_slot(st, index);
    if (d == NULL) return "too many devices";
    *d = copy;
    return NULL;
  }
  return "unknown statement";
}

void stub_state_parse(const char *text, size_t len, stub_state *out, stub_warn_fn warn, void *ctx) {
  memset(out, 0, sizeof *out);
  char line[MAX_LINE];
  unsigned int line_no = 0;
  size_t pos = 0;
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t line_len = nl == NULL ? len - pos : (size_t)(nl - (text + pos));
    const char *start = text + pos;
    pos += line_len + 1;
    line_no++;
    const char *reason = NULL;
    if (line_len >= MAX_LINE) {
      reason = "line too long";
    } else if (memchr(start, '\0', line_len) != NULL) {
      reason = "NUL byte in line";
    } else {
      memcpy(line, start, line_len);
      line[line_len] = '\0';
      if (stub_line_strip(line) == 0) continue;
      reason = parse_statement(out, line);
    }
    if (reason != NULL && warn != NULL) warn(line_no, reason, ctx);
  }
}

unsigned int stub_rule_find(const stub_rule *rules, unsigned int count, const char *function) {
  for (unsigned int i = 0; i < count; i++) {
    if (strcmp(rules[i].function, function) == 0) return rules[i].value;
  }
  return 0;
}

int stub_device_position(const stub_state *state, unsigned int conf_index) {
  for (unsigned int i = 0; i < state->device_count; i++) {
    if (state->devices[i].conf_index == conf_index) return (int)i;
  }
  return -1;
}

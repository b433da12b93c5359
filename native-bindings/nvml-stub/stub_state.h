/*
 * The simulated driver's state, as parsed from nvml-stub.conf. Parsing is
 * pure (text in, state out) so it can be reasoned about apart from the
 * locking and file watching in nvml_stub.c.
 */
#ifndef ACCEL_NVML_STUB_STATE_H
#define ACCEL_NVML_STUB_STATE_H

#include <stddef.h>

#define STUB_MAX_DEVICES 64
#define STUB_MAX_RULES 64
#define STUB_MAX_DEVICE_INDEX 255
#define STUB_TEXT_LEN 96
#define STUB_FUNCTION_LEN 64

/* Which optional device keys the conf set; an unset key answers NOT_SUPPORTED. */
enum stub_key {
  KEY_UUID = 1u << 0,
  KEY_NAME = 1u << 1,
  KEY_PCI_BUS_ID = 1u << 2,
  KEY_PCI_DEVICE_ID = 1u << 3,
  KEY_PCI_SUBSYSTEM_ID = 1u << 4,
  KEY_MINOR = 1u << 5,
  KEY_MEMORY_TOTAL = 1u << 6,
  KEY_MEMORY_USED = 1u << 7,
  KEY_UTIL_GPU = 1u << 8,
  KEY_UTIL_MEMORY = 1u << 9,
  KEY_TEMPERATURE = 1u << 10,
  KEY_POWER = 1u << 11,
  KEY_CLOCK_SM = 1u << 12,
  KEY_CLOCK_MEM = 1u << 13,
  KEY_ECC_CORRECTED = 1u << 14,
  KEY_ECC_UNCORRECTED = 1u << 15,
  KEY_VIRTUALIZATION_MODE = 1u << 16,
  KEY_EVENT_TYPES = 1u << 17
};

typedef struct {
  unsigned int conf_index; /* the index written in the conf; devices are ordered by it */
  unsigned int keys;       /* enum stub_key bits */
  int lost;
  char uuid[STUB_TEXT_LEN];
  char name[STUB_TEXT_LEN];
  unsigned int pci_domain, pci_bus, pci_device, pci_function;
  unsigned int pci_device_id;
  unsigned int pci_subsystem_id;
  unsigned int minor;
  unsigned long long memory_total_mib;
  unsigned long long memory_used_mib;
  unsigned int util_gpu, util_memory;
  unsigned int temperature;
  unsigned int power_mw;
  unsigned int clock_sm, clock_mem;
  unsigned long long ecc_corrected, ecc_uncorrected;
  unsigned int virtualization_mode;
  unsigned long long event_types; /* nvmlEventType* bits the device supports, when KEY_EVENT_TYPES */
} stub_device;

typedef struct {
  char function[STUB_FUNCTION_LEN];
  unsigned int value;
} stub_rule;

typedef struct {
  char driver_version[STUB_TEXT_LEN];
  char nvml_version[STUB_TEXT_LEN];
  int cuda_driver_version; /* 0 when not given */
  unsigned int device_count;
  stub_device devices[STUB_MAX_DEVICES];
  unsigned int fail_count;
  stub_rule fails[STUB_MAX_RULES];
  unsigned int delay_count;
  stub_rule delays[STUB_MAX_RULES];
} stub_state;

/* Receives one complaint per rejected line (1-based line number); may be NULL. */
typedef void (*stub_warn_fn)(unsigned int line_no, const char *reason, void *ctx);

/* Parses a whole conf text into `out`. Bad lines are skipped and reported through `warn`. */
void stub_state_parse(const char *text, size_t len, stub_state *out, stub_warn_fn warn, void *ctx);

/* The rule value for `function`, or 0 when there is none. */
unsigned int stub_rule_find(const stub_rule *rules, unsigned int count, const char *function);

/* The position of the device with conf index `conf_index`, or -1. */
int stub_device_position(const stub_state *state, unsigned int conf_index);

#endif

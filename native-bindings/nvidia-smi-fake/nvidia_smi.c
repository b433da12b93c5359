/*
 * A stand-in for nvidia-smi on simulated hosts. Like the real tool it is a
 * thin client of NVML: it loads libnvidia-ml.so.1 by soname (its rpath finds
 * the copy in the simulated host's library directory), so whatever the NVML
 * stub reports, this reports too, in the real tool's CSV dialect and exit codes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/nvml_abi.h"
#include "../common/stub_conf_locate.h"

/* nvidia-smi's documented exit codes. */
#define EXIT_OK 0
#define EXIT_INVALID_ARGUMENT 2
#define EXIT_QUERY_FAILED 6
#define EXIT_DRIVER_NOT_LOADED 9
#define EXIT_LIBRARY_NOT_FOUND 12
#define EXIT_GPU_LOST 15
#define EXIT_OTHER 255

#define MAX_SELECTED 64
#define VALUE_LEN 128

static struct {
  nvmlInit_v2_fn init;
  nvmlShutdown_fn shutdown;
  nvmlErrorString_fn error_string;
  nvmlSystemGetString_fn driver_version;
  nvmlSystemGetCudaDriverVersion_fn cuda_version;
  nvmlDeviceGetCount_v2_fn count;
  nvmlDeviceGetHandleByIndex_v2_fn handle;
  nvmlDeviceGetString_fn name;
  nvmlDeviceGetString_fn uuid;
  nvmlDeviceGetPciInfo_v3_fn pci;
  nvmlDeviceGetUint_fn minor;
  nvmlDeviceGetMemoryInfo_fn memory;
  nvmlDeviceGetUtilizationRates_fn utilization;
  nvmlDeviceGetTemperature_fn temperature;
  nvmlDeviceGetUint_fn power;
  nvmlDeviceGetClockInfo_fn clock;
  nvmlDeviceGetTotalEccErrors_fn ecc;
  nvmlDeviceGetVirtualizationMode_fn virtualization;
} nvml;

typedef struct {
  unsigned int index;
  unsigned int count;
  nvmlDevice_t device;
} row_ctx;

/* Writes one field's value (without unit) into `out`; returns NVML's answer. */
typedef nvmlReturn_t (*field_fn)(const row_ctx *row, char *out, size_t len);

typedef struct {
  const char *name;
  const char *alias;
  const char *unit; /* printed after values and, in brackets, in the header */
  field_fn value;
} field;

static nvmlReturn_t f_count(const row_ctx *r, char *out, size_t len) {
  snprintf(out, len, "%u", r->count);
  return NVML_SUCCESS;
}

static nvmlReturn_t f_index(const row_ctx *r, char *out, size_t len) {
  snprintf(out, len, "%u", r->index);
  return NVML_SUCCESS;
}

static nvmlReturn_t f_uuid(const row_ctx *r, char *out, size_t len) { return nvml.uuid(r->device, out, (unsigned)len); }

static nvmlReturn_t f_name(const row_ctx *r, char *out, size_t len) { return nvml.name(r->device, out, (unsigned)len); }

static nvmlReturn_t f_driver(const row_ctx *r, char *out, size_t len) {
  (void)r;
  return nvml.driver_version(out, (unsigned)len);
}

static nvmlReturn_t pci_field(const row_ctx *r, char *out, size_t len, int which) {
  nvmlPciInfo_t pci;
  nvmlReturn_t rc = nvml.pci(r->device, &pci);
  if (rc != NVML_SUCCESS) return rc;
  if (which == 0) snprintf(out, len, "%s", pci.busId);
  else snprintf(out, len, "0x%08X", which == 1 ? pci.pciDeviceId : pci.pciSubSystemId);
  return NVML_SUCCESS;
}

static nvmlReturn_t f_bus_id(const row_ctx *r, char *out, size_t len) { return pci_field(r, out, len, 0); }
static nvmlReturn_t f_pci_device(const row_ctx *r, char *out, size_t len) { return pci_field(r, out, len, 1); }
static nvmlReturn_t f_pci_subsystem(const row_ctx *r, char *out, size_t len) { return pci_field(r, out, len, 2); }

static nvmlReturn_t memory_field(const row_ctx *r, char *out, size_t len, int which) {
  nvmlMemory_t m;
  nvmlReturn_t rc = nvml.memory(r->device, &m);
  if (rc != NVML_SUCCESS) return rc;
  unsigned long long bytes = which == 0 ? m.total : which == 1 ? m.used : m.free;
  snprintf(out, len, "%llu", bytes / (1024ull * 1024ull));
  return NVML_SUCCESS;
}

static nvmlReturn_t f_mem_total(const row_ctx *r, char *out, size_t len) { return memory_field(r, out, len, 0); }
static nvmlReturn_t f_mem_used(const row_ctx *r, char *out, size_t len) { return memory_field(r, out, len, 1); }
static nvmlReturn_t f_mem_free(const row_ctx *r, char *out, size_t len) { return memory_field(r, out, len, 2); }

static nvmlReturn_t util_field(const row_ctx *r, char *out, size_t len, int memory) {
  nvmlUtilization_t u;
  nvmlReturn_t rc = nvml.utilization(r->device, &u);
  if (rc == NVML_SUCCESS) snprintf(out, len, "%u", memory ? u.memory : u.gpu);
  return rc;
}

static nvmlReturn_t f_util_gpu(const row_ctx *r, char *out, size_t len) { return util_field(r, out, len, 0); }
static nvmlReturn_t f_util_mem(const row_ctx *r, char *out, size_t len) { return util_field(r, out, len, 1); }

static nvmlReturn_t f_temperature(const row_ctx *r, char *out, size_t len) {
  unsigned int t;
  nvmlReturn_t rc = nvml.temperature(r->device, NVML_TEMPERATURE_GPU, &t);
  if (rc == NVML_SUCCESS) snprintf(out, len, "%u", t);
  return rc;
}

static nvmlReturn_t f_power(const row_ctx *r, char *out, size_t len) {
  unsigned int mw;
  nvmlReturn_t rc = nvml.power(r->device, &mw);
  if (rc == NVML_SUCCESS) snprintf(out, len, "%.2f", mw / 1000.0);
  return rc;
}

static nvmlReturn_t clock_field(const row_ctx *r, char *out, size_t len, nvmlClockType_t type) {
  unsigned int mhz;
  nvmlReturn_t rc = nvml.clock(r->device, type, &mhz);
  if (rc == NVML_SUCCESS) snprintf(out, len, "%u", mhz);
  return rc;
}

static nvmlReturn_t f_clock_sm(const row_ctx *r, char *out, size_t len) { return clock_field(r, out, len, NVML_CLOCK_SM); }
static nvmlReturn_t f_clock_mem(const row_ctx *r, char *out, size_t len) {
  return clock_field(r, out, len, NVML_CLOCK_MEM);
}

static nvmlReturn_t ecc_field(const row_ctx *r, char *out, size_t len, nvmlMemoryErrorType_t type) {
  unsigned long long n;
  nvmlReturn_t rc = nvml.ecc(r->device, type, NVML_VOLATILE_ECC, &n);
  if (rc == NVML_SUCCESS) snprintf(out, len, "%llu", n);
  return rc;
}

static nvmlReturn_t f_ecc_corrected(const row_ctx *r, char *out, size_t len) {
  return ecc_field(r, out, len, NVML_MEMORY_ERROR_TYPE_CORRECTED);
}
static nvmlReturn_t f_ecc_uncorrected(const row_ctx *r, char *out, size_t len) {
  return ecc_field(r, out, len, NVML_MEMORY_ERROR_TYPE_UNCORRECTED);
}

static nvmlReturn_t f_minor(const row_ctx *r, char *out, size_t len) {
  unsigned int minor;
  nvmlReturn_t rc = nvml.minor(r->device, &minor);
  if (rc == NVML_SUCCESS) snprintf(out, len, "%u", minor);
  return rc;
}

static nvmlReturn_t f_virtualization(const row_ctx *r, char *out, size_t len) {
  static const char *const modes[] = {"None", "Pass-Through", "VGPU", "Host VGPU", "Host VSGA"};
  nvmlGpuVirtualizationMode_t mode;
  nvmlReturn_t rc = nvml.virtualization(r->device, &mode);
  if (rc != NVML_SUCCESS) return rc;
  if ((unsigned int)mode >= sizeof modes / sizeof modes[0]) return NVML_ERROR_UNKNOWN;
  snprintf(out, len, "%s", modes[mode]);
  return NVML_SUCCESS;
}

static const field FIELDS[] = {
    {"count", NULL, NULL, f_count},
    {"index", NULL, NULL, f_index},
    {"uuid", "gpu_uuid", NULL, f_uuid},
    {"name", "gpu_name", NULL, f_name},
    {"pci.bus_id", "gpu_bus_id", NULL, f_bus_id},
    {"pci.device_id", NULL, NULL, f_pci_device},
    {"pci.sub_device_id", NULL, NULL, f_pci_subsystem},
    {"driver_version", NULL, NULL, f_driver},
    {"memory.total", NULL, "MiB", f_mem_total},
    {"memory.used", NULL, "MiB", f_mem_used},
    {"memory.free", NULL, "MiB", f_mem_free},
    {"utilization.gpu", NULL, "%", f_util_gpu},
    {"utilization.memory", NULL, "%", f_util_mem},
    {"temperature.gpu", NULL, NULL, f_temperature},
    {"power.draw", NULL, "W", f_power},
    {"clocks.sm", "clocks.current.sm", "MHz", f_clock_sm},
    {"clocks.mem", "clocks.current.memory", "MHz", f_clock_mem},
    {"ecc.errors.corrected.volatile.total", NULL, NULL, f_ecc_corrected},
    {"ecc.errors.uncorrected.volatile.total", NULL, NULL, f_ecc_uncorrected},
    {"minor_number", NULL, NULL, f_minor},
    {"virtualization_mode", NULL, NULL, f_virtualization},
};

#define FIELD_COUNT (sizeof FIELDS / sizeof FIELDS[0])

typedef struct {
  const char *query;  /* --query-gpu value */
  const char *format; /* --format value */
  const char *ids;    /* -i value */
  int list;           /* -L */
  int help;
} options;

static int usage_error(const char *detail) {
  if (detail != NULL) fprintf(stderr, "%s\n", detail);
  fprintf(stderr, "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n");
  return EXIT_INVALID_ARGUMENT;
}

/* Accepts `--name=value`, `--name value` and, for short flags, `-x value`. */
static int take_value(int argc, char **argv, int *i, const char *long_name, const char *short_name,
                      const char **out) {
  const char *arg = argv[*i];
  size_t n = strlen(long_name);
  if (strncmp(arg, long_name, n) == 0 && arg[n] == '=') {
    *out = arg + n + 1;
    return 1;
  }
  if (strcmp(arg, long_name) == 0 || (short_name != NULL && strcmp(arg, short_name) == 0)) {
    if (*i + 1 >= argc) return -1;
    *out = argv[++*i];
    return 1;
  }
  return 0;
}

static int parse_args(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    int r;
    if ((r = take_value(argc, argv, &i, "--query-gpu", NULL, &o->query)) != 0 ||
        (r = take_value(argc, argv, &i, "--format", NULL, &o->format)) != 0 ||
        (r = take_value(argc, argv, &i, "--id", "-i", &o->ids)) != 0) {
      if (r < 0) return usage_error(NULL);
      continue;
    }
    if (strcmp(argv[i], "-L") == 0 || strcmp(argv[i], "--list-gpus") == 0) o->list = 1;
    else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) o->help = 1;
    else {
      char detail[256];
      snprintf(detail, sizeof detail, "Unknown option: %.200s", argv[i]);
      return usage_error(detail);
    }
  }
  if (o->list && o->query != NULL) return usage_error(NULL);
  if (o->query != NULL && o->format == NULL) return usage_error("--query-gpu requires --format");
  if (o->format != NULL && o->query == NULL) return usage_error("--format is only valid with a --query-* option");
  return EXIT_OK;
}

static int parse_format(const char *format, int *noheader, int *nounits) {
  char buf[128];
  if (strlen(format) >= sizeof buf) return 0;
  strcpy(buf, format);
  char *save = NULL;
  char *tok = strtok_r(buf, ",", &save);
  if (tok == NULL || strcmp(tok, "csv") != 0) return 0;
  while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
    if (strcmp(tok, "noheader") == 0) *noheader = 1;
    else if (strcmp(tok, "nounits") == 0) *nounits = 1;
    else return 0;
  }
  return 1;
}

static int parse_fields(const char *query, const field **out, size_t *count) {
  char buf[2048];
  if (strlen(query) >= sizeof buf) return usage_error("query too long");
  strcpy(buf, query);
  *count = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ') tok++;
    const field *f = NULL;
    for (size_t i = 0; i < FIELD_COUNT && f == NULL; i++) {
      if (strcmp(tok, FIELDS[i].name) == 0 || (FIELDS[i].alias != NULL && strcmp(tok, FIELDS[i].alias) == 0)) {
        f = &FIELDS[i];
      }
    }
    if (f == NULL) {
      fprintf(stderr, "Field \"%.200s\" is not a valid field to query.\n", tok);
      return EXIT_INVALID_ARGUMENT;
    }
    if (*count == 64) return usage_error("too many fields");
    out[(*count)++] = f;
  }
  return *count == 0 ? usage_error("no fields to query") : EXIT_OK;
}

/* What the real tool prints in place of a value NVML would not give. */
static const char *placeholder(nvmlReturn_t rc) {
  switch (rc) {
    case NVML_ERROR_NOT_SUPPORTED: return "[N/A]";
    case NVML_ERROR_NO_PERMISSION: return "[Insufficient Permissions]";
    case NVML_ERROR_GPU_IS_LOST: return "[GPU is lost]";
    default: return "[Unknown Error]";
  }
}

static int load_nvml(void) {
  void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr,
            "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA "
            "Display Driver is properly installed and present in your system.\n");
    return EXIT_LIBRARY_NOT_FOUND;
  }
  struct {
    void **slot;
    const char *name;
  } symbols[] = {
      {(void **)&nvml.init, "nvmlInit_v2"},
      {(void **)&nvml.shutdown, "nvmlShutdown"},
      {(void **)&nvml.error_string, "nvmlErrorString"},
      {(void **)&nvml.driver_version, "nvmlSystemGetDriverVersion"},
      {(void **)&nvml.cuda_version, "nvmlSystemGetCudaDriverVersion"},
      {(void **)&nvml.count, "nvmlDeviceGetCount_v2"},
      {(void **)&nvml.handle, "nvmlDeviceGetHandleByIndex_v2"},
      {(void **)&nvml.name, "nvmlDeviceGetName"},
      {(void **)&nvml.uuid, "nvmlDeviceGetUUID"},
      {(void **)&nvml.pci, "nvmlDeviceGetPciInfo_v3"},
      {(void **)&nvml.minor, "nvmlDeviceGetMinorNumber"},
      {(void **)&nvml.memory, "nvmlDeviceGetMemoryInfo"},
      {(void **)&nvml.utilization, "nvmlDeviceGetUtilizationRates"},
      {(void **)&nvml.temperature, "nvmlDeviceGetTemperature"},
      {(void **)&nvml.power, "nvmlDeviceGetPowerUsage"},
      {(void **)&nvml.clock, "nvmlDeviceGetClockInfo"},
      {(void **)&nvml.ecc, "nvmlDeviceGetTotalEccErrors"},
      {(void **)&nvml.virtualization, "nvmlDeviceGetVirtualizationMode"},
  };
  for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
    *symbols[i].slot = dlsym(lib, symbols[i].name);
    if (*symbols[i].slot == NULL) {
      fprintf(stderr, "Failed to initialize NVML: %s not found in libnvidia-ml.so.1\n", symbols[i].name);
      return EXIT_OTHER;
    }
  }
  return EXIT_OK;
}

/* The stub's conf may ask this tool to hang, so callers' timeouts can be tested. */
static void simulated_hang(void) {
  char path[4096], value[32];
  if (stub_state_path((const void *)nvml.init, STUB_CONF_ENV, STUB_CONF_NAME, path, sizeof path) != 0) return;
  if (!stub_conf_value(path, "delay nvidia-smi", value, sizeof value)) return;
  char *end;
  long ms = strtol(value, &end, 10);
  if (*end != '\0' || ms <= 0) return;
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Resolves `-i` (indices or UUIDs, comma separated) to indices; without it, every device. */
static int select_devices(const char *ids, unsigned int count, unsigned int *out, size_t *n) {
  *n = 0;
  if (ids == NULL) {
    for (unsigned int i = 0; i < count && i < MAX_SELECTED; i++) out[(*n)++] = i;
    return EXIT_OK;
  }
  char buf[1024];
  if (strlen(ids) >= sizeof buf) return usage_error(NULL);
  strcpy(buf, ids);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    unsigned int index = count;
    if (strncmp(tok, "GPU-", 4) == 0) {
      for (unsigned int i = 0; i < count && index == count; i++) {
        nvmlDevice_t d;
        char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
        if (nvml.handle(i, &d) == NVML_SUCCESS && nvml.uuid(d, uuid, sizeof uuid) == NVML_SUCCESS &&
            strcmp(uuid, tok) == 0) {
          index = i;
        }
      }
    } else {
      char *end;
      errno = 0;
      unsigned long v = strtoul(tok, &end, 10);
      if (errno != 0 || *end != '\0' || end == tok || tok[0] == '-') return usage_error(NULL);
      if (v < count) index = (unsigned int)v;
    }
    if (index == count) {
      fprintf(stderr, "No devices were found\n");
      return EXIT_QUERY_FAILED;
    }
    if (*n == MAX_SELECTED) return usage_error(NULL);
    out[(*n)++] = index;
  }
  return *n == 0 ? usage_error(NULL) : EXIT_OK;
}

/* Reports a device whose handle NVML refused; returns the exit code that failure deserves. */
static int handle_failure(unsigned int index, nvmlReturn_t rc) {
  fprintf(stderr, "Unable to determine the device handle for GPU %u: %s\n", index, nvml.error_string(rc));
  return rc == NVML_ERROR_GPU_IS_LOST ? EXIT_GPU_LOST : EXIT_OTHER;
}

static int list_gpus(const unsigned int *selected, size_t n) {
  int status = EXIT_OK;
  for (size_t i = 0; i < n; i++) {
    nvmlDevice_t d;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE], uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    nvmlReturn_t rc = nvml.handle(selected[i], &d);
    if (rc != NVML_SUCCESS) {
      status = handle_failure(selected[i], rc);
      continue;
    }
    if (nvml.name(d, name, sizeof name) != NVML_SUCCESS) strcpy(name, "[N/A]");
    if (nvml.uuid(d, uuid, sizeof uuid) != NVML_SUCCESS) strcpy(uuid, "[N/A]");
    printf("GPU %u: %s (UUID: %s)\n", selected[i], name, uuid);
  }
  return status;
}

static int query_gpus(const options *o, unsigned int count, const unsigned int *selected, size_t n) {
  const field *fields[64];
  size_t field_count = 0;
  int noheader = 0, nounits = 0;
  int status = parse_fields(o->query, fields, &field_count);
  if (status != EXIT_OK) return status;
  if (!parse_format(o->format, &noheader, &nounits)) {
    fprintf(stderr, "\"%.200s\" is not a valid format.\n", o->format);
    return usage_error(NULL);
  }
  if (!noheader) {
    for (size_t f = 0; f < field_count; f++) {
      printf(f == 0 ? "%s" : ", %s", fields[f]->name);
      if (fields[f]->unit != NULL) printf(" [%s]", fields[f]->unit);
    }
    printf("\n");
  }
  for (size_t i = 0; i < n; i++) {
    row_ctx row = {.index = selected[i], .count = count};
    nvmlReturn_t rc = nvml.handle(selected[i], &row.device);
    if (rc != NVML_SUCCESS) {
      status = handle_failure(selected[i], rc);
      continue;
    }
    for (size_t f = 0; f < field_count; f++) {
      char value[VALUE_LEN];
      rc = fields[f]->value(&row, value, sizeof value);
      if (f > 0) printf(", ");
      if (rc != NVML_SUCCESS) printf("%s", placeholder(rc));
      else if (fields[f]->unit != NULL && !nounits) printf("%s %s", value, fields[f]->unit);
      else printf("%s", value);
      if (rc == NVML_ERROR_GPU_IS_LOST) status = EXIT_GPU_LOST;
    }
    printf("\n");
  }
  return status;
}

static int summary(unsigned int count, const unsigned int *selected, size_t n) {
  char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "N/A";
  int cuda = 0;
  nvml.driver_version(driver, sizeof driver);
  nvml.cuda_version(&cuda);
  printf("NVIDIA-SMI %s    Driver Version: %s    CUDA Version: %d.%d\n", driver, driver, cuda / 1000,
         (cuda % 1000) / 10);
  printf("Attached GPUs: %u\n", count);
  return list_gpus(selected, n);
}

int main(int argc, char **argv) {
  options o;
  int status = parse_args(argc, argv, &o);
  if (status != EXIT_OK) return status;
  if (o.help) {
    printf("Usage: nvidia-smi [-L] [-i ID[,ID...]] [--query-gpu=FIELDS --format=csv[,noheader][,nounits]]\n");
    return EXIT_OK;
  }
  status = load_nvml();
  if (status != EXIT_OK) return status;
  simulated_hang();
  if (nvml.init() != NVML_SUCCESS) {
    printf("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest "
           "NVIDIA driver is installed and running.\n\n");
    return EXIT_DRIVER_NOT_LOADED;
  }
  unsigned int count = 0;
  nvmlReturn_t rc = nvml.count(&count);
  if (rc != NVML_SUCCESS) {
    fprintf(stderr, "Unable to determine the number of GPUs: %s\n", nvml.error_string(rc));
    nvml.shutdown();
    return EXIT_OTHER;
  }
  if (count == 0) {
    printf("No devices were found\n");
    nvml.shutdown();
    return EXIT_QUERY_FAILED;
  }
  unsigned int selected[MAX_SELECTED];
  size_t n;
  status = select_devices(o.ids, count, selected, &n);
  if (status == EXIT_OK) {
    if (o.query != NULL) status = query_gpus(&o, count, selected, n);
    else if (o.list) status = list_gpus(selected, n);
    else status = summary(count, selected, n);
  }
  nvml.shutdown();
  return status;
}

/*
 * Proves, from inside a container, that injected driver libraries load the
 * way applications load them: by soname through the dynamic loader's normal
 * search (ld.so.cache, default directories), never by path.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int (*nvml_init_fn)(void);
typedef int (*nvml_string_fn)(char *, unsigned int);
typedef const char *(*nvml_error_string_fn)(int);
typedef int (*cuda_version_fn)(int *);

static void *open_soname(const char *soname) {
  void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) fprintf(stderr, "ldso-probe: cannot load %s: %s\n", soname, dlerror());
  return lib;
}

static void *symbol(void *lib, const char *name) {
  void *sym = dlsym(lib, name);
  if (sym == NULL) fprintf(stderr, "ldso-probe: %s not found\n", name);
  return sym;
}

static int probe_nvml(void) {
  void *lib = open_soname("libnvidia-ml.so.1");
  if (lib == NULL) return 1;
  nvml_init_fn init = (nvml_init_fn)symbol(lib, "nvmlInit_v2");
  nvml_string_fn driver = (nvml_string_fn)symbol(lib, "nvmlSystemGetDriverVersion");
  nvml_error_string_fn error_string = (nvml_error_string_fn)symbol(lib, "nvmlErrorString");
  if (init == NULL || driver == NULL || error_string == NULL) return 1;
  int rc = init();
  if (rc != 0) {
    fprintf(stderr, "ldso-probe: libnvidia-ml.so.1 loaded but nvmlInit_v2 failed: %s (%d)\n", error_string(rc), rc);
    return 1;
  }
  char version[80];
  rc = driver(version, sizeof version);
  if (rc != 0) {
    fprintf(stderr, "ldso-probe: nvmlSystemGetDriverVersion failed: %s (%d)\n", error_string(rc), rc);
    return 1;
  }
  printf("nvml ok driver=%s\n", version);
  return 0;
}

static int probe_cuda(void) {
  void *lib = open_soname("libcuda.so.1");
  if (lib == NULL) return 1;
  cuda_version_fn get_version = (cuda_version_fn)symbol(lib, "cuDriverGetVersion");
  if (get_version == NULL) return 1;
  int version = 0;
  int rc = get_version(&version);
  if (rc != 0) {
    fprintf(stderr, "ldso-probe: cuDriverGetVersion failed with %d\n", rc);
    return 1;
  }
  printf("cuda ok version=%d\n", version);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "nvml") == 0) return probe_nvml();
  if (argc == 2 && strcmp(argv[1], "cuda") == 0) return probe_cuda();
  fprintf(stderr, "usage: ldso-probe nvml|cuda\n");
  return 2;
}

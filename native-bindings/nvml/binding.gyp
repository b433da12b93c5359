{
  "targets": [
    {
      "target_name": "accel_nvml",
      "sources": ["addon.c", "nvml_loader.c", "nvml_queries.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}

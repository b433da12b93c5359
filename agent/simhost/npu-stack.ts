/**
 * Hanguang NPUs as a host would show them (pure). Only the PCI vendor id and
 * the processing-accelerator class are public; the device id, driver and
 * module name, node names, majors and library directory below are
 * ASSUMPTIONS chosen to look like how Linux exposes any such driver, so the
 * agent can be tested against the generic discovery rules it must follow.
 */
import type { Placement, SpecBuilder } from './spec-builder.js';

export const ALIBABA_VENDOR_ID = 0x1ded;
/** Processing accelerator (base class 0x12). */
export const NPU_CLASS = 0x120000;
/** ASSUMPTION: no Hanguang device id is published; this one is not in the PCI id database for 0x1ded. */
export const NPU_DEVICE_ID = 0x1000;
/** ASSUMPTION: kernel driver and module name. */
export const NPU_DRIVER = 'hanguang';
/** ASSUMPTION: a dynamic char major as the kernel hands them out. */
export const NPU_MAJOR = 240;
/** ASSUMPTION: the shared control node, a misc device. */
export const NPU_CONTROL_NODE = 'hanguang_ctl';
export const NPU_CONTROL_MINOR = 60;
/** ASSUMPTION: where the HanGuangAI runtime installs its libraries. */
export const NPU_LIBRARY_DIR = '/usr/local/hgai/lib';
/** ASSUMPTION: version of the simulated NPU driver and runtime. */
export const NPU_DRIVER_VERSION = '1.2.0';

/** Alibaba's M1 root port (0x1ded:0x8000 in the PCI id database). */
const M1_ROOT_PORT = { vendorId: ALIBABA_VENDOR_ID, deviceId: 0x8000, classCode: 0x060400, subsystemVendorId: ALIBABA_VENDOR_ID, subsystemDeviceId: 0x8000, revision: 1 };
/** The Elastic RDMA Adapter: same vendor, network class; never an NPU. */
const ERDMA = { vendorId: ALIBABA_VENDOR_ID, deviceId: 0x107f, classCode: 0x020000, subsystemVendorId: ALIBABA_VENDOR_ID, subsystemDeviceId: 0x107f, revision: 1 };
/** uverbs char devices use the InfiniBand major with minors from 192. */
const UVERBS_MAJOR = 231;

export interface NpuStackSpec {
  count: number;
  /** Where the eRDMA adapter sits (a VM slot on the root bus). */
  erdmaSlot: number;
}

export function addNpuStack(b: SpecBuilder, spec: NpuStackSpec): void {
  const placements: Placement[] = b.behindRootPorts(spec.count, M1_ROOT_PORT);
  placements.forEach((placement, i) => {
    const name = `${NPU_DRIVER}${i}`;
    b.addPciFunction(placement, {
      vendorId: ALIBABA_VENDOR_ID,
      deviceId: NPU_DEVICE_ID,
      classCode: NPU_CLASS,
      subsystemVendorId: ALIBABA_VENDOR_ID,
      subsystemDeviceId: NPU_DEVICE_ID,
      revision: 1,
      driver: NPU_DRIVER,
      charDevices: [{ className: NPU_DRIVER, name, major: NPU_MAJOR, minor: i, devName: name }],
      hwmon: b.hwmon(NPU_DRIVER, { temp1_input: String((42 + i) * 1000), power1_average: String((60 + 5 * i) * 1_000_000) }),
    });
    b.addDeviceNode(`/dev/${name}`, NPU_MAJOR, i);
  });
  b.addVirtualCharDevice({ className: 'misc', name: NPU_CONTROL_NODE, major: 10, minor: NPU_CONTROL_MINOR, devName: NPU_CONTROL_NODE });
  b.addDeviceNode(`/dev/${NPU_CONTROL_NODE}`, 10, NPU_CONTROL_MINOR);
  b.addCharMajor(NPU_MAJOR, NPU_DRIVER);
  b.pciDriverModule(NPU_DRIVER, NPU_DRIVER);
  b.addModule(NPU_DRIVER, NPU_DRIVER_VERSION);

  b.addPciFunction(b.rootBus(spec.erdmaSlot), {
    ...ERDMA,
    driver: 'erdma',
    charDevices: [{ className: 'infiniband_verbs', name: 'uverbs0', major: UVERBS_MAJOR, minor: 192, devName: 'infiniband/uverbs0' }],
  });
  b.addDeviceNode('/dev/infiniband/uverbs0', UVERBS_MAJOR, 192);
  b.addCharMajor(UVERBS_MAJOR, 'infiniband_verbs');
  b.pciDriverModule('erdma', 'erdma');
  b.addModule('erdma', '0.2.38');

  b.addLdConf('hgai', [NPU_LIBRARY_DIR]);
  b.addLibrary({
    path: `${NPU_LIBRARY_DIR}/libhgrt.so.${NPU_DRIVER_VERSION}`,
    soname: 'libhgrt.so.1',
    links: ['libhgrt.so.1', 'libhgrt.so'],
    artifact: { kind: 'fake-lib', soname: 'libhgrt.so.1' },
  });
}

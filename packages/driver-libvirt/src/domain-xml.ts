/** The libvirt domain XML of an instance. */
import type { VirtType } from './config.js';

export const METADATA_NS = 'https://orrery.dev/xmlns/libvirt/instance/1.0';

export interface DiskDevice {
  path: string;
  format: 'qcow2' | 'raw';
  /** vda, vdb, … */
  target: string;
}

export interface DomainDefinition {
  name: string;
  uuid: string;
  virtType: VirtType;
  machineType: string;
  memoryMb: number;
  vcpus: number;
  /** TCG translation cache size in MiB (only with virtType qemu; 0: QEMU's default). */
  tbCacheMb: number;
  /** Direct kernel boot; otherwise the guest boots from its first disk. */
  kernel: { kernel: string; ramdisk: string | null; cmdline: string } | null;
  disks: DiskDevice[];
  /** The serial console's log file (virtlogd appends everything the guest prints on ttyS0). */
  consoleLog: string;
  /**
   * The remote consoles (contract 1.4): ttyS0 as a TCP server on `listen`:`serialPort` (raw
   * bytes; the log above still gets everything), and VNC on `listen` at a port libvirt picks.
   */
  consoles: { listen: string; serialPort: number };
  /**
   * The guest's NICs, in order: a port bound to a bridge (contract 1.3) is a tap on it; one
   * without (a 1.0 port) a user-mode (SLIRP) NIC, as before networking existed.
   */
  nics: Nic[];
  /** Recorded in <metadata> so a domain can be traced back to its instance. */
  metadata: Record<string, string>;
}

/** One guest NIC. @since contract 1.3 for bridge, devName, mtu */
export interface Nic {
  mac: string;
  /** The host bridge the tap joins; absent: a user-mode NIC. */
  bridge?: string;
  /** The tap's name on the host. */
  devName?: string;
  mtu?: number;
}

/** The NICs of a spec's ports (VifInfo): what the domain and interface attach use. */
export function nicsOf(ports: ReadonlyArray<{ mac: string; bridge?: string; devName?: string; mtu?: number }>): Nic[] {
  return ports.map((p) => ({
    mac: p.mac, ...(p.bridge ? { bridge: p.bridge } : {}), ...(p.devName ? { devName: p.devName } : {}), ...(p.mtu ? { mtu: p.mtu } : {}),
  }));
}

/** One <interface> element (indented for <devices>): Nova's linuxbridge VIF, or a user-mode NIC. */
export function interfaceXml(n: Nic, indent = '    '): string {
  const e = escapeXml;
  const lines = n.bridge
    ? [
      "<interface type='bridge'>",
      `  <mac address='${e(n.mac)}'/>`,
      `  <source bridge='${e(n.bridge)}'/>`,
      ...(n.devName ? [`  <target dev='${e(n.devName)}'/>`] : []),
      "  <model type='virtio'/>",
      ...(n.mtu ? [`  <mtu size='${Math.trunc(n.mtu)}'/>`] : []),
      '</interface>',
    ]
    : ["<interface type='user'>", `  <mac address='${e(n.mac)}'/>`, "  <model type='virtio'/>", '</interface>'];
  return lines.map((l) => indent + l).join('\n');
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export function domainXml(d: DomainDefinition): string {
  const e = escapeXml;
  const os = d.kernel
    ? [
      `    <kernel>${e(d.kernel.kernel)}</kernel>`,
      ...(d.kernel.ramdisk ? [`    <initrd>${e(d.kernel.ramdisk)}</initrd>`] : []),
      `    <cmdline>${e(d.kernel.cmdline)}</cmdline>`,
    ]
    : ['    <boot dev=\'hd\'/>'];
  const tcg = d.virtType === 'qemu' && d.tbCacheMb > 0 ? [`    <tcg><tb-cache unit='MiB'>${d.tbCacheMb}</tb-cache></tcg>`] : [];
  const meta = Object.entries(d.metadata).map(([k, v]) => `      <orrery:${k}>${e(v)}</orrery:${k}>`);
  return [
    `<domain type='${d.virtType}'>`,
    `  <name>${e(d.name)}</name>`,
    `  <uuid>${e(d.uuid)}</uuid>`,
    '  <metadata>',
    `    <orrery:instance xmlns:orrery='${METADATA_NS}'>`,
    ...meta,
    '    </orrery:instance>',
    '  </metadata>',
    `  <memory unit='MiB'>${d.memoryMb}</memory>`,
    `  <vcpu>${d.vcpus}</vcpu>`,
    '  <os>',
    `    <type arch='x86_64' machine='${e(d.machineType)}'>hvm</type>`,
    ...os,
    '  </os>',
    '  <features>',
    '    <acpi/>',
    '    <apic/>',
    ...tcg,
    '  </features>',
    ...(d.virtType === 'kvm' ? ["  <cpu mode='host-model'/>"] : []),
    "  <clock offset='utc'/>",
    '  <on_poweroff>destroy</on_poweroff>',
    '  <on_reboot>restart</on_reboot>',
    '  <on_crash>destroy</on_crash>',
    '  <devices>',
    ...d.disks.flatMap((disk) => [
      "    <disk type='file' device='disk'>",
      `      <driver name='qemu' type='${disk.format}'/>`,
      `      <source file='${e(disk.path)}'/>`,
      `      <target dev='${e(disk.target)}' bus='virtio'/>`,
      '    </disk>',
    ]),
    ...d.nics.map((n) => interfaceXml(n)),
    // Nova's serial console: a TCP chardev whose log keeps `console log` working with no client connected.
    "    <serial type='tcp'>",
    `      <source mode='bind' host='${e(d.consoles.listen)}' service='${Math.trunc(d.consoles.serialPort)}'/>`,
    "      <protocol type='raw'/>",
    `      <log file='${e(d.consoleLog)}' append='on'/>`,
    "      <target port='0'/>",
    '    </serial>',
    `    <graphics type='vnc' autoport='yes' listen='${e(d.consoles.listen)}'>`,
    `      <listen type='address' address='${e(d.consoles.listen)}'/>`,
    '    </graphics>',
    "    <video><model type='vga' vram='16384' heads='1'/></video>",
    "    <memballoon model='none'/>",
    '  </devices>',
    '</domain>',
    '',
  ].join('\n');
}

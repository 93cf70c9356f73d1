/**
 * What a server becomes on the daemon: its container's name, labels, hostname, cgroup limits
 * and the seed files (user data, key, metadata) put into it before it starts.
 *
 * Labels carry everything the driver needs to find its containers again after a restart (the
 * instance's uuid, host, node, image): the daemon is the only state. The server's metadata are
 * labels too, under `org.orrery.meta.`.
 */
import type Docker from 'dockerode';
import type { InstanceSpec } from '@orrery/virt-api';
import type { DockerConfig } from './config.js';
import { tarOf, type TarEntry } from './tar.js';

export const LABEL = {
  instance: 'org.orrery.instance',
  host: 'org.orrery.host',
  node: 'org.orrery.node',
  image: 'org.orrery.image',
  project: 'org.orrery.project',
  meta: 'org.orrery.meta.',
} as const;

export const MiB = 1024 * 1024;
/** CFS period for CpuQuota: Docker's default (100 ms). */
const CPU_PERIOD_US = 100_000;

/** Where a server's seed files are in its container (cloud-init's NoCloud seed directory). */
export const SEED_DIR = 'var/lib/cloud/seed/nocloud';

/** Host names may be anything; container names only [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
export function containerPrefix(host: string): string {
  return `orrery-${host.replace(/[^A-Za-z0-9_.-]/g, '_')}-`;
}

/**
 * The server's hostname as Nova sanitizes a display name: lower case, runs of anything but
 * letters, digits and '-' become '-', trimmed of '-' and '.', at most 63 characters; a name with
 * nothing left becomes `server-<uuid>`.
 */
export function hostnameOf(name: string, uuid: string): string {
  const h = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[-.]+/, '').slice(0, 63).replace(/[-.]+$/, '');
  return h === '' ? `server-${uuid}`.slice(0, 63) : h;
}

export function labelsOf(spec: InstanceSpec, host: string): Record<string, string> {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(spec.metadata)) labels[`${LABEL.meta}${k}`] = v;
  labels[LABEL.instance] = spec.uuid;
  labels[LABEL.host] = host;
  labels[LABEL.node] = spec.node;
  labels[LABEL.image] = spec.image.id;
  labels[LABEL.project] = spec.projectId;
  return { ...labels };
}

/** The server's metadata back from its container's labels. */
export function metadataOf(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (k.startsWith(LABEL.meta)) out[k.slice(LABEL.meta.length)] = v;
  return out;
}

/**
 * The flavor as cgroup limits: memory (swap as the flavor's swap: MemorySwap is memory + swap),
 * CPU (a quota of vcpus × the period, or only shares: cpu_limit), processes (pids_limit). The
 * root disk is a quota only with disk_quota = true (overlay2 enforces it on xfs with pquota alone).
 */
export function hostConfigOf(spec: InstanceSpec, cfg: DockerConfig): Docker.HostConfig {
  const f = spec.flavor;
  const memory = f.memoryMb * MiB;
  const hc: Docker.HostConfig = {
    Init: true,
    NetworkMode: 'none',
    RestartPolicy: { Name: 'no' },
    Memory: memory,
    MemorySwap: memory + Math.max(0, f.swapMb) * MiB,
    CpuShares: 1024 * Math.max(1, f.vcpus),
    // The console log is the container's log: bounded, as a serial console file would be.
    LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
  };
  if (cfg.cpuLimit === 'quota') {
    hc.CpuPeriod = CPU_PERIOD_US;
    hc.CpuQuota = CPU_PERIOD_US * Math.max(1, f.vcpus);
  }
  if (cfg.pidsLimit > 0) hc.PidsLimit = cfg.pidsLimit;
  if (cfg.diskQuota && f.rootGb > 0) hc.StorageOpt = { size: `${f.rootGb}G` };
  return hc;
}

/** The create request of `spec`'s container from the loaded image `imageRef`. */
export function createOptionsOf(spec: InstanceSpec, host: string, imageRef: string, cfg: DockerConfig): Docker.ContainerCreateOptions {
  return {
    name: `${containerPrefix(host)}${spec.uuid}`,
    Image: imageRef,
    Hostname: hostnameOf(spec.name, spec.uuid),
    Labels: labelsOf(spec, host),
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    NetworkDisabled: false,
    HostConfig: hostConfigOf(spec, cfg),
  };
}

/** YAML's double-quoted scalar (JSON's string syntax is a subset of it). */
const yamlString = (s: string) => JSON.stringify(s);

/**
 * The seed files, as an archive to extract at '/': NoCloud's `meta-data` (YAML) and
 * `user-data`, Nova's `meta_data.json`, and the key in /root/.ssh/authorized_keys.
 */
export function seedArchive(spec: InstanceSpec): Buffer {
  const hostname = hostnameOf(spec.name, spec.uuid);
  const keys = spec.keyData ? [spec.keyData.trim()] : [];
  const metaData = [
    `instance-id: ${yamlString(spec.uuid)}`,
    `local-hostname: ${yamlString(hostname)}`,
    ...(keys.length > 0 ? ['public-keys:', ...keys.map((k) => `  - ${yamlString(k)}`)] : []),
    '',
  ].join('\n');
  const metaJson = JSON.stringify({
    uuid: spec.uuid, name: spec.name, hostname, project_id: spec.projectId, meta: spec.metadata,
    public_keys: keys.length > 0 ? { default: keys[0] } : {},
  }) + '\n';
  const entries: TarEntry[] = [];
  let dir = '';
  for (const part of SEED_DIR.split('/')) entries.push({ path: (dir = dir ? `${dir}/${part}` : part) });
  entries.push({ path: `${SEED_DIR}/meta-data`, data: metaData }, { path: `${SEED_DIR}/meta_data.json`, data: metaJson });
  if (spec.userData !== null) entries.push({ path: `${SEED_DIR}/user-data`, data: Buffer.from(spec.userData, 'base64'), mode: 0o600 });
  if (keys.length > 0) {
    entries.push({ path: 'root', mode: 0o700 }, { path: 'root/.ssh', mode: 0o700 });
    entries.push({ path: 'root/.ssh/authorized_keys', data: `${keys.join('\n')}\n`, mode: 0o600 });
  }
  return tarOf(entries);
}

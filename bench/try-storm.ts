import { allInOne } from './deployments.js';
import { runBootStorm } from './scenarios/boot-storm.js';
import { stderrProgress } from './progress.js';
const n = Number(process.argv[2] ?? 200), c = Number(process.argv[3] ?? 10);
const env: Record<string, string> = process.argv[5] ? Object.fromEntries(process.argv[5].split(' ').map((kv) => kv.split('=') as [string, string])) : {};
const cloud = await allInOne.start({ capacity: { vcpus: n, memoryMb: 512 * n, diskGb: n }, nodeArgs: process.argv[4] ? process.argv[4].split(' ') : [], env, keepState: false });
try {
  const r = await runBootStorm(cloud, { n, concurrency: c, flavor: 'm1.nano', image: 'orrery-tiny', pollMs: 100, listSamples: 10, stallMs: 60000 }, stderrProgress(process.stderr, true));
  console.log(JSON.stringify({ sps: r.serversPerSecond, post: r.postMs, list: r.listDetailMs, del: r.deletesPerSecond, cloud: r.cloud, rssN: r.cloudRssWithNMb, client: r.clientCpuSeconds }));
} finally { await cloud.stop(); }

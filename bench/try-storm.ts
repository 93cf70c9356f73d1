import { allInOne } from './deployments.js';
import { runBootStorm } from './scenarios/boot-storm.js';
import { stderrProgress } from './progress.js';
const n = Number(process.argv[2] ?? 200), c = Number(process.argv[3] ?? 10);
let t = Date.now();
const cloud = await allInOne.start({ capacity: { vcpus: 512, memoryMb: 1048576, diskGb: 10000 }, nodeArgs: process.argv[4] ? process.argv[4].split(' ') : [], env: {}, keepState: true });
console.log('start', Date.now() - t); t = Date.now();
try {
  const r = await runBootStorm(cloud, { n, concurrency: c, flavor: 'm1.nano', image: 'orrery-tiny', pollMs: 100, listSamples: 10, stallMs: 60000 }, stderrProgress(process.stderr, true));
  console.log(JSON.stringify({ sps: r.serversPerSecond, post: r.postMs, list: r.listDetailMs, del: r.deletesPerSecond, cloud: r.cloud, rssN: r.cloudRssWithNMb, client: r.clientCpuSeconds }));
} finally { console.log('run', Date.now() - t); t = Date.now(); await cloud.stop(); console.log('stop', Date.now() - t); }

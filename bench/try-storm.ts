import { allInOne } from './deployments.js';
import { runBootStorm } from './scenarios/boot-storm.js';
import { stderrProgress } from './progress.js';
const n = Number(process.argv[2] ?? 200), c = Number(process.argv[3] ?? 10);
const cloud = await allInOne.start({ capacity: { vcpus: 512, memoryMb: 1048576, diskGb: 10000 }, nodeArgs: [], env: {}, keepState: false });
try {
  const r = await runBootStorm(cloud, { n, concurrency: c, flavor: 'm1.nano', image: 'orrery-tiny', pollMs: 100, listSamples: 10, stallMs: 60000 }, stderrProgress());
  console.log(JSON.stringify(r, null, 1));
} finally { await cloud.stop(); }

import { allInOne } from './deployments.js';
import { readProc } from './proc.js';
for (const args of [[], ['--max-semi-space-size=2'], ['--max-semi-space-size=4']]) {
  const cloud = await allInOne.start({ capacity: { vcpus: 8, memoryMb: 16384, diskGb: 200 }, nodeArgs: args, env: {}, keepState: false });
  const a = readProc(cloud.pids[0]!);
  await new Promise((r) => setTimeout(r, 3000));
  const b = readProc(cloud.pids[0]!);
  console.log(args.join(' ') || '(default)', 'rss at start', (a!.rssBytes / 1048576).toFixed(1), 'after 3 s', (b!.rssBytes / 1048576).toFixed(1), 'hwm', (b!.hwmBytes / 1048576).toFixed(1));
  await cloud.stop();
}

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { Config } from '../src/common/config.js';
import { createLogger } from '../src/common/logging.js';
import { startAllInOne } from '../src/cmd/cloud.js';
import { runBootStorm } from './scenarios/boot-storm.js';
import { stderrProgress } from './progress.js';
import { credentialsFromOpenrc } from './deployments.js';
const mb = (b: number) => (b / 1048576).toFixed(1);
const show = (label: string) => {
  const m = process.memoryUsage();
  const st = readFileSync('/proc/self/status', 'utf8');
  const hwm = /VmHWM:\s+(\d+)/.exec(st)![1];
  console.log(label, 'rss', mb(m.rss), 'hwm', (Number(hwm) / 1024).toFixed(1), 'heapTotal', mb(m.heapTotal), 'heapUsed', mb(m.heapUsed), 'external', mb(m.external));
  console.log('   spaces', v8.getHeapSpaceStatistics().filter((s) => s.space_size > 0).map((s) => `${s.space_name}:${mb(s.space_size)}/${mb(s.space_used_size)}`).join(' '));
};
show('bare');
const stateDir = mkdtempSync(join(tmpdir(), 'orrery-mem-'));
const config = new Config({ DEFAULT: { state_path: stateDir }, api: { identity_port: '0', image_port: '0', compute_port: '0', placement_port: '0' },
  fake: { vcpus: '2000', memory_mb: '1000000', disk_gb: '2000' } });
const cloud = await startAllInOne(config, createLogger('x', 'warn'));
show('started');
const t = setInterval(() => {}, 1000);
const creds = credentialsFromOpenrc(readFileSync(cloud.openrcPath, 'utf8'));
// boot without deleting: reuse runBootStorm but stop before delete is not possible; run it and watch HWM
await runBootStorm({ description: '', credentials: creds, pids: [], stop: async () => {} }, { n: 1000, concurrency: 10, flavor: 'm1.nano', image: 'orrery-tiny', pollMs: 100, listSamples: 5, stallMs: 60000 }, stderrProgress(process.stderr, true));
show('after storm');
(globalThis as any).gc?.();
show('after gc');
for (const s of (cloud.db as any)) {}
clearInterval(t);
await cloud.stop();

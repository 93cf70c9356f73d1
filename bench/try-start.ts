import { allInOne } from './deployments.js';
let t = Date.now();
const cloud = await allInOne.start({ capacity: { vcpus: 512, memoryMb: 1048576, diskGb: 10000 }, nodeArgs: [], env: {}, keepState: true });
console.log('start', Date.now() - t, cloud.pids); t = Date.now();
await cloud.stop();
console.log('stop', Date.now() - t);

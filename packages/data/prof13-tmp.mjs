import sharp from "sharp";
sharp.cache(false); sharp.concurrency(Number(process.argv[2]));
const tiny = await sharp({create:{width:64,height:64,channels:3,background:{r:1,g:2,b:3}}}).jpeg().toBuffer();
const cpu = async (name, n, k, fn) => { let best=1e9; for (let r=0;r<3;r++){ const c0 = process.cpuUsage(); let i = 0; await Promise.all(Array.from({length:k}, async () => { while (i++ < n) await fn(); })); const cu = process.cpuUsage(c0); best=Math.min(best,(cu.user+cu.system)/1000/n);} console.log(`conc ${process.argv[2]} ${name} k=${k}: cpu ${best.toFixed(3)} ms`); };
await cpu("jpeg64 raw", 2000, 1, () => sharp(tiny).raw().toBuffer());
await cpu("jpeg64 raw", 2000, 3, () => sharp(tiny).raw().toBuffer());
await cpu("jpeg64 raw seq", 2000, 3, () => sharp(tiny, {sequentialRead: true}).raw().toBuffer());

import postgres from 'postgres';
const url = 'postgres://postgres@127.0.0.1:5432/postgres';
const sql = postgres(url, { max: 4, idle_timeout: 30, connect_timeout: 3, onnotice: () => {}, connection: { application_name: 'hangtest', statement_timeout: 5000, idle_in_transaction_session_timeout: 20000 } });
const killer = postgres(url, { max: 1 });
let pending = new Map(); let id = 0; let stop = false;
const track = (name, p) => { const k = id++; pending.set(k, { name, t: Date.now() }); p.then(() => pending.delete(k), () => pending.delete(k)); return p.catch(() => {}); };
const loops = [
  async () => { while (!stop) await track('select', sql`select pg_sleep(0.01)`); },
  async () => { while (!stop) await track('begin', sql.begin(async (tx) => { await tx`select 1`; await tx`select pg_sleep(0.01)`; })); },
  async () => { while (!stop) await track('begin2', sql.begin(async (tx) => { await Promise.all([tx`select 1`, tx`select 2`, tx`select pg_sleep(0.005)`]); })); },
  async () => { while (!stop) await track('select2', sql`select 1`); },
  async () => { while (!stop) await track('select3', sql`select 1`); },
  async () => { while (!stop) await track('select4', sql`select 1`); },
];
const running = loops.map((f) => f());
for (let i = 0; i < 4; i++) {
  await new Promise((r) => setTimeout(r, 700));
  const [r] = await killer`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = 'hangtest'`;
  console.log('terminated', r.n);
}
await new Promise((r) => setTimeout(r, 1500));
const now = Date.now();
console.log('stuck:', [...pending.values()].filter((p) => now - p.t > 1000).map((p) => p.name));
stop = true;
const t = Date.now();
await sql.end({ timeout: 3 });
console.log('end took', Date.now() - t);
await killer.end();
process.exit(0);

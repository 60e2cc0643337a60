"""The local engine: `arenad` gang-schedules jobs on this machine and runs each replica under a shim.

In the submitting process: `engine` (the Engine protocol over the daemon's API), `probe` (what planning
reads from this machine), `planner` → `plan` (pure: each replica's argv, env, cwd and the job's files).
In the daemon: `daemon` (HTTP on a Unix socket, threads) → `api` (typed requests, checks) → `loop`
(observe → decide → apply) with `controllers/` (a kind's exit → outcome), `effects` (finish, stop,
re-queue), `binder` (snapshot → `scheduler/` → binds, ports), `spawner` (start what the plan says,
through `supervisor` and `shim`), `repo` (every SQL statement) over `store` (SQLite), `catalog`
(decoded specs, plans, controllers), `jobview` + `wording` (the read models; reasons in English).
Time comes from an injected `clock`; kinds differ only through their registry entry (`arena.kinds`).
"""

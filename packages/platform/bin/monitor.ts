#!/usr/bin/env node
/**
 * effect-workqueue-monitor: `wq_monitor.py` for a running service.
 *
 * It polls the service's debug JSON route (`GET /debug/workqueues`, which serves `WorkqueueSystem.snapshot`)
 * and prints the monitor table every interval, or one `wq_dump.py`-style dump with `--dump`. It attaches to
 * nothing else: the service must expose the route (see the backend example, `EFFECT_WORKQUEUE_DEBUG=1`).
 *
 *   effect-workqueue-monitor <url | port> [-i SECS] [--timeout SECS] [--max-bytes N] [--token T]
 *                            [--totals] [--dump] [--json] [REGEX ...]
 *
 * The logic (arguments, the bounded and schema-checked fetch, the loop) is `src/internal/monitorCli.ts`; its
 * `USAGE` is the full help (`--help`). Exit codes: 0 on SIGINT/SIGTERM (at once, even mid-request or
 * mid-interval) or after a one-shot print, 1 when the route cannot be read or its answer is not a snapshot,
 * 2 on bad arguments.
 */
import { main } from "../src/internal/monitorCli.ts"

process.exitCode = await main(process.argv.slice(2))

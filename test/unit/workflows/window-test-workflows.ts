/**
 * Test-only workflow for test/unit/maintenance-window.test.ts: awaitMaintenanceWindow
 * (src/workflows/lib/disruption.ts) alone, with the phases it enters recorded instead of a
 * ProgressTracker (whose search attributes the time-skipping server does not know). Not part of the
 * worker's workflows.
 */
import { MaintenanceWindowSchema } from '../../../src/common/disruption';
import { awaitMaintenanceWindow } from '../../../src/workflows/lib/disruption';

export interface WindowGateResult {
  startedAt: number;
  openedAt: number;
  phases: string[];
}

export async function windowGate(raw: unknown): Promise<WindowGateResult> {
  const window = MaintenanceWindowSchema.parse(raw); // defaults filled, as a procedure's input is
  const startedAt = Date.now();
  const phases: string[] = [];
  await awaitMaintenanceWindow(
    { phase: (name: string) => void phases.push(name), note: () => undefined },
    window,
  );
  return { startedAt, openedAt: Date.now(), phases };
}

/**
 * Turning a persisted snapshot row back into a machine snapshot: as is, through the definition's
 * `migrate` from an older version, or not at all (the actor starts fresh, with the reason journalled).
 *
 * @example
 * const r = restoreSnapshot(def, row); // => { snapshot } | { fresh: 'no migration from version 1 to 2' }
 */
import type { AnyMachineSnapshot } from 'xstate';
import type { SnapshotRow } from '../db/actors.ts';
import type { ActorDefinition } from './types.ts';

export type Restored = { snapshot: AnyMachineSnapshot; migratedFrom?: number } | { fresh: string };

export function restoreSnapshot(def: ActorDefinition, row: SnapshotRow): Restored {
  let persisted: unknown = row.snapshot;
  if (row.machine_version !== def.version) {
    try {
      persisted = row.machine_version < def.version && def.migrate ? def.migrate(row.snapshot, row.machine_version) : undefined;
    } catch {
      persisted = undefined;
    }
    if (persisted === undefined) return { fresh: `no migration from version ${row.machine_version} to ${def.version}` };
  }
  try {
    const snapshot = def.machine.resolveState(persisted as never);
    return row.machine_version !== def.version ? { snapshot, migratedFrom: row.machine_version } : { snapshot };
  } catch (err) {
    return { fresh: `snapshot does not fit the machine: ${(err as Error).message}` };
  }
}

/**
 * Activities of the approval drill: an in-memory "live system" per instance, so tests can see
 * exactly which destructive calls ran. (Unit-level fakes; the Temporal server under them is real.)
 */
export interface DrillSystem {
  state: string;
  syncPaused: boolean;
  changes: { inputs: Record<string, string> }[];
  calls: string[];
}

export function createDrillActivities(systems: Map<string, DrillSystem>) {
  const system = (instance: string): DrillSystem => {
    let found = systems.get(instance);
    if (!found) {
      found = { state: 'v1', syncPaused: false, changes: [], calls: [] };
      systems.set(instance, found);
    }
    return found;
  };
  return {
    drillReadState(instance: string): Promise<{ state: string }> {
      system(instance).calls.push('read');
      return Promise.resolve({ state: system(instance).state });
    },
    drillPauseSync(instance: string): Promise<void> {
      system(instance).calls.push('pause');
      system(instance).syncPaused = true;
      return Promise.resolve();
    },
    drillResumeSync(instance: string): Promise<void> {
      system(instance).calls.push('resume');
      system(instance).syncPaused = false;
      return Promise.resolve();
    },
    drillDestructiveChange(instance: string, inputs: Record<string, string>): Promise<void> {
      system(instance).calls.push('change');
      system(instance).changes.push({ inputs });
      return Promise.resolve();
    },
  };
}

export type DrillActivities = ReturnType<typeof createDrillActivities>;

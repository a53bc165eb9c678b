import { activityInfo, heartbeat } from '@temporalio/activity';

/** What a resumable activity needs of its heartbeats: where the previous attempt got to, and how to report. */
export interface CheckpointHeartbeats<T> {
  /** The last checkpoint a previous attempt heartbeated, if any: resume after it. */
  resumeFrom: T | undefined;
  /** Records a committed checkpoint as the heartbeat's details. */
  onCheckpoint: (checkpoint: T) => void;
  /** Heartbeats between commits (and while waiting for a slot) with the last checkpoint: the only resumable point. */
  beat: () => void;
}

/**
 * Heartbeats for an activity that commits its work in checkpoints (export and import segments):
 * the details are always the last committed checkpoint, so a retry resumes there and never from
 * work that was read but not yet written.
 */
export function checkpointHeartbeats<T>(): CheckpointHeartbeats<T> {
  const resumeFrom = activityInfo().heartbeatDetails as T | undefined;
  let last = resumeFrom;
  return {
    resumeFrom,
    onCheckpoint: (checkpoint) => {
      last = checkpoint;
      heartbeat(checkpoint);
    },
    beat: () => heartbeat(last),
  };
}

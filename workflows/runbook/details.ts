/** The markdown the Temporal UI shows as a run's current details. Pure. */
import type { ApprovalProgress, RunbookStatus, StepProgress } from '../../common/runbook';

const ICON: Record<StepProgress['state'], string> = { pending: '⬜', running: '⏳', done: '✅', failed: '❌', skipped: '➖' };

export interface DetailsView {
  title: string;
  instance: string;
  status: RunbookStatus;
  steps: StepProgress[];
  counters: Record<string, number>;
  approval?: ApprovalProgress;
  notes: string[];
}

export function renderDetails(view: DetailsView): string {
  const { steps } = view;
  const done = steps.filter((s) => s.state === 'done' || s.state === 'skipped').length;
  const current = steps.find((s) => s.state === 'running');
  const lines = [
    `**${view.title}** of \`${view.instance}\`: **${view.status}**`,
    '',
    `Step ${Math.min(done + (current ? 1 : 0), steps.length)} of ${steps.length}${current ? `: ${current.title}` : ''}`,
    '',
    ...steps.map((s, i) => `${i + 1}. ${ICON[s.state]} ${s.title}${s.note ? ` (${s.note})` : ''}`),
  ];
  const counters = Object.entries(view.counters);
  if (counters.length > 0) lines.push('', ...counters.map(([k, v]) => `- ${k}: ${v}`));
  if (view.approval) {
    const approvals = view.approval.approvals.filter((a) => a.decision === 'approve' && !a.withdrawn).length;
    lines.push(
      '',
      `Approval: ${view.approval.state}, ${approvals} of ${view.approval.minApprovals} (deadline ${view.approval.deadline})`,
      `Plan digest: \`${view.approval.planDigest}\``,
    );
  }
  if (view.notes.length > 0) lines.push('', ...view.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

import type { TenantId } from '@hotdash/contracts';
import type { TableHeader } from './export-format';

/** Where a subject export's rows go: the export file's writer (tables, each its header, rows and end). */
export interface SubjectExportSink {
  beginTable(table: string, header: TableHeader, rowsEstimated: number): Promise<void>;
  row(values: Record<string, unknown>): Promise<void>;
  endTable(undecryptable: Record<string, number>): Promise<void>;
}

/**
 * One data subject's rows, read by the service that owns them (drafts: its tickets with their
 * replies, and their drafts; drafts' subject-export.ts) in one snapshot of the tenant, decrypted,
 * and written to `sink`. Provisioning may not import the drafts library (one service lib never
 * imports another): the provisioning app binds it (apps/provisioning, SUBJECT_EXPORT_SOURCE).
 */
export interface SubjectExportSource {
  write(tenantId: TenantId, subjectRef: string, sink: SubjectExportSink): Promise<void>;
}

export const SUBJECT_EXPORT_SOURCE = Symbol('SUBJECT_EXPORT_SOURCE');

// Data exports (issue 16 item 4; CCPA): POST /exports, GET /exports, GET /exports/:id and
// GET /exports/:id/download at the gateway (tenant admins), served by provisioning. One definition
// for the service that validates the body and for the gateway's OpenAPI document. The file's
// format: docs/exports.md.
import { z } from 'zod';

/** Format name and version written in every export file's first line. */
export const EXPORT_FORMAT = 'hotdash-data-export';
export const EXPORT_FORMAT_VERSION = 1;

/** Largest POST /exports body. */
export const EXPORT_BODY_LIMIT = 4 * 1024;

/**
 * Body of POST /exports: the tenant's whole data set (`tenant`), or one data subject's, a customer
 * known by e-mail (`subject`: the tickets, drafts and replies of that address). Unknown fields are
 * refused.
 */
export const startExportBody = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('tenant') }).strict(),
    z
      .object({
        kind: z.literal('subject'),
        /** The customer's e-mail address (matched trimmed and case-insensitively); never stored, only its blind index. */
        email: z.string().trim().max(320, 'email must be at most 320 characters').pipe(z.email({ message: 'email must be an e-mail address' })),
      })
      .strict(),
  ],
  { message: "kind must be 'tenant' or 'subject'" },
);
export type StartExportBody = z.infer<typeof startExportBody>;

export const ExportKinds = ['tenant', 'subject'] as const;
export type ExportKind = (typeof ExportKinds)[number];

/** queued → running → succeeded | failed; a succeeded export past its expiry is `expired` (its file deleted). */
export const ExportStatuses = ['queued', 'running', 'succeeded', 'failed', 'expired'] as const;
export type ExportStatus = (typeof ExportStatuses)[number];

/** Progress of one table (or section) of an export: rows written of the rows counted when it started. */
export const exportTableProgress = z.object({ table: z.string(), rowsDone: z.number().int(), rowsEstimated: z.number().int() });
export type ExportTableProgress = z.infer<typeof exportTableProgress>;

/** An export run as GET /exports/:id answers it. */
export const exportView = z.object({
  id: z.uuid(),
  kind: z.enum(ExportKinds),
  status: z.enum(ExportStatuses),
  requestedBy: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** Until when the file can be downloaded (succeeded exports); then it is deleted. */
  expiresAt: z.string().nullable(),
  progress: z.object({
    rowsDone: z.number().int(),
    rowsEstimated: z.number().int(),
    tables: z.array(exportTableProgress),
  }),
  /** Size of the stored (compressed, encrypted) file. */
  bytes: z.number().int().nullable(),
  /**
   * A succeeded, unexpired export's download link: GET it with the admin's credential. The token is
   * signed under a key of this tenant alone, names this export and expires with it.
   */
  download: z.object({ url: z.string(), expiresAt: z.string() }).nullable(),
  error: z.string().nullable(),
});
export type ExportView = z.infer<typeof exportView>;

/** GET /exports: the tenant's latest exports, newest first. */
export const exportList = z.object({ exports: z.array(exportView) });
export type ExportList = z.infer<typeof exportList>;

/** Query of GET /exports/:id/download. */
export const exportDownloadQuery = z.object({ token: z.string().min(1, 'token is required').max(200, 'token must be at most 200 characters') }).strict();

/** Stable codes of the export API's refusals (RFC 9457 `code`). */
export const ExportProblems = {
  /** 400: kind missing or not tenant/subject. */
  INVALID_KIND: 'invalid-export-kind',
  /** 400: a subject export's e-mail missing or not an address. */
  INVALID_EMAIL: 'invalid-subject-email',
  /** 400: the download token is missing or malformed. */
  INVALID_TOKEN: 'invalid-download-token',
  /** 404: no such export of this tenant (another tenant's answers the same), or a token that is not this export's. */
  NOT_FOUND: 'export-not-found',
  /** 409: the export has not finished (or failed): nothing to download. */
  NOT_READY: 'export-not-ready',
  /** 409: an export of the tenant is already queued or running. */
  IN_PROGRESS: 'export-in-progress',
  /** 410: the download link, and the export's file, expired. */
  EXPIRED: 'export-expired',
} as const;

/** The export API's problem code of a failing body field. */
export function exportProblemCodeOf(path: string): string | undefined {
  const top = path.split('.', 1)[0];
  if (top === 'kind' || top === '') return ExportProblems.INVALID_KIND;
  if (top === 'email') return ExportProblems.INVALID_EMAIL;
  return undefined;
}

// The drafts service's API shapes, shared by the drafts service and the gateway (its OpenAPI
// document and its body parsers): tickets in, the approval queue, decisions on drafts.
import { z } from 'zod';
import { uuidSchema } from './envelope';

/** Longest ticket message, draft or reply, in characters. */
export const MAX_MESSAGE_CHARS = 20_000;

const oneLine = (max: number, what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), `${what} must be one line without control characters`);
const message = (what: string) => z.string().trim().min(1, `${what} must not be empty`).max(MAX_MESSAGE_CHARS, `${what} must be at most ${MAX_MESSAGE_CHARS} characters`);

/**
 * The internal header with which the gateway hands the drafts service its hold on the month's ticket
 * quota (a reservation id of the quota service): the ticket's ticket.received carries it, and quota
 * settles the hold when it counts the ticket.
 */
export const QUOTA_RESERVATION_HEADER = 'x-hotdash-quota-reservation';

/** A ticket as an integration or the tenant's own tools send it (channel api). */
export const createTicketBody = z
  .object({
    customer: z.object({ name: oneLine(200, 'customer.name'), email: z.email('customer.email must be an e-mail address').max(320) }).strict(),
    subject: oneLine(500, 'subject').optional(),
    body: message('body'),
    /** Your own id of the ticket: sending it again answers with the ticket already created. */
    externalId: oneLine(200, 'externalId').optional(),
  })
  .strict();
export type CreateTicketBody = z.infer<typeof createTicketBody>;

export const TicketStatuses = ['drafting', 'pending', 'rejected', 'draft_failed', 'replied'] as const;
export type TicketStatus = (typeof TicketStatuses)[number];

/** The queue: newest first; `before` is the `next` of the previous page. */
export const ticketListQuery = z
  .object({
    status: z.enum(TicketStatuses).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
    before: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const editDraftBody = z.object({ body: message('body') }).strict();
/**
 * A rejection: why (the next draft follows it), and optionally the operator's own version of the
 * draft, which is not sent but kept with the rejected draft for the next one to start from.
 */
export const rejectDraftBody = z
  .object({ reason: message('reason').pipe(z.string().max(2_000, 'reason must be at most 2000 characters')), editedBody: message('editedBody').optional() })
  .strict();
export const manualReplyBody = z.object({ body: message('body') }).strict();
/** Assign to an operator of the tenant, or null to unassign. */
export const assignTicketBody = z.object({ assigneeId: uuidSchema.nullable() }).strict();

/** Metrics over tickets decided between `from` and `to` (dates, inclusive; default the last 30 days). */
export const draftMetricsQuery = z
  .object({ from: z.iso.date().optional(), to: z.iso.date().optional() })
  .strict()
  .refine((q) => !q.from || !q.to || q.from <= q.to, 'from must not be after to');

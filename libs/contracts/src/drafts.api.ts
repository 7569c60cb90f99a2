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
    /** `true`: only tickets past their approval SLA (flagged by the SLA sweep); `false`: only the others. */
    breached: z.enum(['true', 'false'], { message: "breached must be 'true' or 'false'" }).optional(),
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

// Answers (the OpenAPI document's response schemas, for clients generated from it, e.g. the portal).
const isoDateTime = z.string().describe('ISO 8601 date-time');
/** A ticket in the queue, as its operators see it. */
export const ticketSummaryView = z.object({
  id: uuidSchema,
  externalId: z.string().nullable(),
  channel: z.string(),
  status: z.enum(TicketStatuses),
  attempt: z.number().int(),
  currentDraftId: uuidSchema.nullable(),
  assigneeId: uuidSchema.nullable(),
  customer: z.object({ name: z.string(), email: z.string() }),
  subject: z.string().nullable(),
  receivedAt: isoDateTime,
  updatedAt: isoDateTime,
  /** The approval workflow's SLA: when the first decision is due, and whether it was missed. */
  slaDueAt: isoDateTime.nullable().optional(),
  slaBreached: z.boolean().optional(),
  /** When the SLA sweep flagged it (null: not breached). */
  slaBreachedAt: isoDateTime.nullable().optional(),
  /** The team lead it was escalated to when it breached (null: not escalated). */
  slaEscalatedTo: uuidSchema.nullable().optional(),
});
/** One page of the queue; `next` is the `before` of the next page. */
export const ticketListView = z.object({ tickets: z.array(ticketSummaryView), next: z.string().nullable() });
export const draftView = z.object({
  id: uuidSchema,
  attempt: z.number().int(),
  status: z.enum(['pending', 'approved', 'edited', 'rejected', 'failed', 'superseded']),
  body: z.string().nullable(),
  /** The passages the draft rests on, with their text (null for drafts written before the text was kept): for the operator, never in the reply. */
  citations: z.array(z.object({ chunkId: z.string(), documentId: uuidSchema, title: z.string(), text: z.string().nullable() })),
  model: z.string().nullable(),
  usage: z.object({ promptTokens: z.number().int(), completionTokens: z.number().int() }),
  editedBody: z.string().nullable(),
  diff: z.string().nullable(),
  changed: z.object({ charactersAdded: z.number().int(), charactersRemoved: z.number().int() }).nullable(),
  rejectReason: z.string().nullable(),
  failure: z.object({ code: z.string(), reason: z.string() }).nullable(),
  decidedBy: uuidSchema.nullable(),
  decidedAt: isoDateTime.nullable(),
  createdAt: isoDateTime,
});
/** A ticket with its message, its drafts (pending, decided, failed) and its reply. */
export const ticketView = ticketSummaryView.extend({
  body: z.string(),
  drafts: z.array(draftView),
  reply: z.object({ body: z.string(), draftId: uuidSchema.nullable(), by: z.string(), sentAt: isoDateTime }).nullable(),
});

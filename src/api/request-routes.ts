// JSON API of the PII tier: requests (analysts), the approval queue and decisions (approvers),
// early revoke (approvers and admins). Same service as the pages.
import type { Context } from 'hono';
import { denialRoute } from '../access/guard.js';
import { AppError } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import { apiRoute, apiRouter, errorResponses, json } from './openapi.js';
import { approvalsResponse, datasetsResponse, decisionResult, grantView, myRequests, requestView } from './responses.js';
import { emptyBody, grantRevoke, idPath, parseInt4Id, piiRequestCreate, piiReview, printable } from './schemas.js';

/** Ids in paths of the pages: a PostgreSQL integer (1 to 2147483647), else a 400 (never a database error). */
export function pathId(c: Context, name = 'id'): number {
  const raw = c.req.param(name) ?? '';
  const id = parseInt4Id(raw);
  if (!id.ok) throw new AppError('bad_request', `Invalid id "${printable(raw)}": ${id.reason}.`);
  return id.id;
}

const listDatasets = apiRoute({
  method: 'get',
  path: '/datasets',
  action: 'requests.read',
  tags: ['PII requests'],
  summary: 'The PII datasets you can ask for',
  description: "FDWG members only. The policy's PII datasets: their tables, the longest access, how many approvers must agree and the shortest purpose accepted.",
  responses: { 200: json(datasetsResponse, 'The datasets of the policy in force.'), ...errorResponses('not_admitted') },
});

const createRequest = apiRoute({
  method: 'post',
  path: '/requests',
  action: 'requests.create',
  tags: ['PII requests'],
  summary: 'Ask for PII datasets',
  description:
    'Admitted members only (FDWG member, current agreement accepted). An unknown dataset, a purpose shorter than a dataset asks for or a duration longer than it allows is a 400 naming the rule; asking again for a dataset you have pending or live is a 409. A webhook notice goes to the approvers.',
  request: { body: { content: { 'application/json': { schema: piiRequestCreate } } } },
  responses: { 201: json(requestView, 'The request, pending.'), ...errorResponses('not_admitted', 'agreement_required', 'conflict') },
});

const myRequestList = apiRoute({
  method: 'get',
  path: '/requests',
  action: 'requests.read',
  tags: ['PII requests'],
  summary: 'Your requests',
  description: 'FDWG members only. Your requests, newest first, with their reviews and grants.',
  responses: { 200: json(myRequests, 'Your requests.'), ...errorResponses('not_admitted') },
});

const withdraw = apiRoute({
  method: 'post',
  path: '/requests/{id}/withdraw',
  action: 'requests.withdraw',
  tags: ['PII requests'],
  summary: 'Withdraw a pending request',
  description: 'Your own request, while it is pending (else a 409).',
  request: { params: idPath, body: { content: { 'application/json': { schema: emptyBody } } } },
  responses: { 200: json(requestView, 'The request, withdrawn.'), ...errorResponses('not_found', 'conflict') },
});

const relinquish = apiRoute({
  method: 'post',
  path: '/requests/{id}/relinquish',
  action: 'requests.relinquish',
  tags: ['PII requests'],
  summary: 'Give up live access early',
  description: 'Ends the live grants of your own request now (a 409 when it gives you none): your role leaves the datasets\' group roles at once.',
  request: { params: idPath, body: { content: { 'application/json': { schema: emptyBody } } } },
  responses: { 200: json(requestView, 'The request, its grants ended.'), ...errorResponses('not_found', 'conflict') },
});

const reviewRequest = apiRoute({
  method: 'post',
  path: '/requests/{id}/reviews',
  action: 'requests.review',
  tags: ['Approvals'],
  summary: 'Approve or deny a request',
  description:
    "Approvers only; one vote each, never on your own request (403). A denial decides at once; the last approval needed grants every dataset for the approved window. A request no longer pending, or a second vote, is a 409.",
  request: { params: idPath, body: { content: { 'application/json': { schema: piiReview } } } },
  responses: { 200: json(decisionResult, 'The vote was counted.'), ...errorResponses('forbidden', 'not_found', 'conflict') },
});

const approvalQueue = apiRoute({
  method: 'get',
  path: '/approvals',
  action: 'approvals.read',
  tags: ['Approvals'],
  summary: 'The approval queue',
  description:
    "Approvers and admins only. For approvers, the pending requests, oldest first, each with the requester's recent decided requests and whether you may vote on it (`decidable`, else `whyNot`); for everyone here, every live grant.",
  responses: { 200: json(approvalsResponse, 'The queue and the live grants.'), ...errorResponses('forbidden') },
});

const revokeGrant = apiRoute({
  method: 'post',
  path: '/grants/{id}/revoke',
  action: 'grants.revoke',
  tags: ['Approvals'],
  summary: 'End live PII access now',
  description:
    "Approvers and admins only. Ends one live grant at once (the analyst's role leaves the dataset's group role and its open warehouse sessions are terminated); a grant that already ended is a 409. The comment is kept in the audit log.",
  request: { params: idPath, body: { content: { 'application/json': { schema: grantRevoke } } } },
  responses: { 200: json(grantView, 'The grant, ended.'), ...errorResponses('forbidden', 'not_found', 'conflict') },
});

export function requestApiRoutes(policy: Policy) {
  return apiRouter()
    .openapi(listDatasets, (c) => {
      return c.json(
        {
          datasets: policy.pii_datasets.map((d) => ({
            name: d.name,
            description: d.description,
            tables: d.tables,
            maxDurationSeconds: d.max_duration,
            approvalsRequired: d.approvals_required,
            minPurposeLength: d.min_purpose_length,
          })),
          reviewWindowSeconds: policy.requests.review_window,
        },
        200,
      );
    })
    .openapi(createRequest, async (c) => {
      const request = await c.get('services').requests.create(c.get('identity')!, c.req.valid('json'));
      return c.json(request, 201);
    })
    .openapi(myRequestList, async (c) => {
      const requests = await c.get('services').requests.mine(c.get('identity')!);
      return c.json({ requests }, 200);
    })
    .openapi(withdraw, async (c) => {
      return c.json(await c.get('services').requests.withdraw(c.get('identity')!, c.req.valid('param').id), 200);
    })
    .openapi(relinquish, async (c) => {
      return c.json(await c.get('services').requests.relinquish(c.get('identity')!, c.req.valid('param').id), 200);
    })
    .openapi(reviewRequest, async (c) => {
      const { decision, comment } = c.req.valid('json');
      return c.json(await c.get('services').requests.review(c.get('identity')!, c.req.valid('param').id, decision, comment, denialRoute(c)), 200);
    })
    .openapi(approvalQueue, async (c) => {
      return c.json(await c.get('services').requests.approvals(c.get('identity')!), 200);
    })
    .openapi(revokeGrant, async (c) => {
      const { comment } = c.req.valid('json');
      return c.json(await c.get('services').requests.revokeGrant(c.get('identity')!, c.req.valid('param').id, comment), 200);
    });
}

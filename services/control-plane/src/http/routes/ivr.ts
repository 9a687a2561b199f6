import { Readable } from 'node:stream';
import {
  CREATE_MENU_SCHEMA,
  DELETED_SCHEMA,
  MAX_PROMPT_BYTES,
  MENU_LIST_SCHEMA,
  MENU_PARAMS_SCHEMA,
  MENU_SCHEMA,
  PROMPT_CONTENT_TYPES,
  PROMPT_LIST_SCHEMA,
  PROMPT_PARAMS_SCHEMA,
  PROMPT_SCHEMA,
  UPDATE_MENU_SCHEMA,
  VALID_SCHEMA,
  type CreateMenuInput,
  type NameParams,
  type UpdateMenuInput,
} from '../../ivr/schemas';
import type { MenuService, PromptService } from '../../ivr/service';
import { LIST_QUERY_SCHEMA, type ListQuery } from '../page';
import { defineRoute, type Route } from '../route';

const TAG = 'ivr';
const ERROR = { $ref: '#/components/schemas/Error' };
const menuNotFound = { description: 'No such menu (ERR_IVR_MENU_NOT_FOUND)', schema: ERROR };
const promptNotFound = { description: 'No such prompt (ERR_IVR_PROMPT_NOT_FOUND)', schema: ERROR };
const refused = {
  description:
    'Invalid menu (ERR_VALIDATION naming the field), a target that does not exist (ERR_IVR_TARGET_NOT_FOUND: `target`, `field`) or menus that loop without a key press (ERR_IVR_CYCLE: `cycle`)',
  schema: ERROR,
};

const MENU_EXAMPLE = {
  name: 'main',
  description: 'Main menu',
  definition: {
    prompt: { text: 'For sales press 1. For support press 2. To talk to our assistant press 0.', voice: 'en-us' },
    options: {
      '1': { type: 'queue', queue: 'sales', priority: 5 },
      '2': { type: 'sip_user', username: 'support-desk', ring_timeout_seconds: 20 },
      '0': { type: 'ai', ai_route: 'sales-ai' },
      '9': { type: 'external', number: '+14155550199' },
      '*': { type: 'repeat' },
    },
    timeout_seconds: 5,
    timeout_action: { type: 'repeat' },
    invalid_action: { type: 'repeat' },
    max_retries: 3,
    retries_exhausted_action: { type: 'hangup', reason: 'no_choice' },
  },
};

/** `/api/ivr/menus` and `/api/ivr/prompts`. */
export function ivrRoutes(menus: MenuService, prompts: PromptService): Route[] {
  return [
    // No POST /api/ivr/menus/{name} exists, so a menu called "validate" stays reachable (GET/PUT/DELETE).
    defineRoute<CreateMenuInput>({
      method: 'post',
      path: '/api/ivr/menus/validate',
      operationId: 'validateIvrMenu',
      summary: 'Check a menu without saving it',
      description:
        'The checks of a create (schema, targets, loops), without storing anything. 200 `{valid: true}` or the 400 a create would answer.',
      tag: TAG,
      access: 'any-role',
      body: CREATE_MENU_SCHEMA,
      bodyExample: MENU_EXAMPLE,
      responses: { 200: { description: 'Valid', schema: VALID_SCHEMA }, 400: refused },
      async handle({ body }) {
        return { status: 200, body: await menus.validate(body) };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'post',
      path: '/api/ivr/menus/{name}/validate',
      operationId: 'recheckIvrMenu',
      summary: 'Check a stored menu against the targets as they are now',
      description:
        'A target deleted (or renamed) since the menu was saved shows up here as 400 ERR_IVR_TARGET_NOT_FOUND.',
      tag: TAG,
      access: 'any-role',
      params: MENU_PARAMS_SCHEMA,
      responses: { 200: { description: 'Valid', schema: VALID_SCHEMA }, 400: refused, 404: menuNotFound },
      async handle({ params }) {
        return { status: 200, body: await menus.recheck(params.name) };
      },
    }),
    defineRoute<CreateMenuInput>({
      method: 'post',
      path: '/api/ivr/menus/',
      operationId: 'createIvrMenu',
      summary: 'Add an IVR menu',
      description:
        "A prompt (text spoken by espeak-ng, an uploaded prompt file, or text for the AI's TTS) and digit → action, with timeout, invalid-input and retries-exhausted actions. Every AI route, queue, menu, SIP user, prompt and AI number named must exist; menus may not loop without a key press.",
      tag: TAG,
      access: 'any-role',
      body: CREATE_MENU_SCHEMA,
      bodyExample: MENU_EXAMPLE,
      responses: {
        201: { description: 'Created', schema: MENU_SCHEMA },
        400: refused,
        409: { description: 'Name taken (ERR_IVR_MENU_EXISTS)', schema: ERROR },
      },
      async handle({ body }) {
        return { status: 201, body: await menus.create(body) };
      },
    }),
    defineRoute<undefined, ListQuery>({
      method: 'get',
      path: '/api/ivr/menus/',
      operationId: 'listIvrMenus',
      summary: 'List IVR menus',
      description: 'In name order.',
      tag: TAG,
      access: 'any-role',
      query: LIST_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of menus', schema: MENU_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await menus.list(query) };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'get',
      path: '/api/ivr/menus/{name}',
      operationId: 'getIvrMenu',
      summary: 'Get an IVR menu',
      tag: TAG,
      access: 'any-role',
      params: MENU_PARAMS_SCHEMA,
      responses: { 200: { description: 'The menu', schema: MENU_SCHEMA }, 404: menuNotFound },
      async handle({ params }) {
        return { status: 200, body: await menus.get(params.name) };
      },
    }),
    defineRoute<UpdateMenuInput, undefined, NameParams>({
      method: 'put',
      path: '/api/ivr/menus/{name}',
      operationId: 'updateIvrMenu',
      summary: 'Update an IVR menu',
      description:
        'Checked like a create; bumps `version`. Calls already in the menu finish with the old one; the next call gets the new one.',
      tag: TAG,
      access: 'any-role',
      params: MENU_PARAMS_SCHEMA,
      body: UPDATE_MENU_SCHEMA,
      bodyExample: {
        description: 'Main menu (holidays)',
        definition: {
          prompt: { text: 'We are closed today.' },
          options: {},
          timeout_action: { type: 'hangup', reason: 'closed' },
        },
      },
      responses: { 200: { description: 'The updated menu', schema: MENU_SCHEMA }, 400: refused, 404: menuNotFound },
      async handle({ params, body }) {
        return { status: 200, body: await menus.update(params.name, body) };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'delete',
      path: '/api/ivr/menus/{name}',
      operationId: 'deleteIvrMenu',
      summary: 'Delete an IVR menu',
      description:
        'Refused (409 ERR_IVR_MENU_IN_USE, `used_by`) while a number, a queue action or another menu names it.',
      tag: TAG,
      access: 'any-role',
      params: MENU_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Deleted', schema: DELETED_SCHEMA },
        404: menuNotFound,
        409: { description: 'Still in use (ERR_IVR_MENU_IN_USE)', schema: ERROR },
      },
      async handle({ params }) {
        return { status: 200, body: await menus.remove(params.name) };
      },
    }),
    defineRoute<Buffer, undefined, NameParams>({
      method: 'put',
      path: '/api/ivr/prompts/{name}',
      operationId: 'putIvrPrompt',
      summary: 'Upload (or replace) a prompt',
      description: `The body is a WAV file (16-bit PCM, A-law or μ-law; 8–48 kHz; mono or stereo; at most ${MAX_PROMPT_BYTES / 1024 / 1024} MiB). Menus play it as \`{"file": "<name>"}\`; the gateways resample it to the call.`,
      tag: TAG,
      access: 'any-role',
      params: PROMPT_PARAMS_SCHEMA,
      rawBody: {
        contentTypes: PROMPT_CONTENT_TYPES,
        maxBytes: MAX_PROMPT_BYTES,
        description: 'A RIFF/WAVE file.',
      },
      responses: {
        201: { description: 'Stored', schema: PROMPT_SCHEMA },
        200: { description: 'Replaced', schema: PROMPT_SCHEMA },
        400: { description: 'Not a usable WAV file (ERR_IVR_PROMPT_INVALID, `reason`)', schema: ERROR },
      },
      async handle({ params, body }) {
        return prompts.put(params.name, body);
      },
    }),
    defineRoute<undefined, ListQuery>({
      method: 'get',
      path: '/api/ivr/prompts/',
      operationId: 'listIvrPrompts',
      summary: 'List uploaded prompts',
      description: 'In name order; metadata only.',
      tag: TAG,
      access: 'any-role',
      query: LIST_QUERY_SCHEMA,
      responses: { 200: { description: 'One page of prompts', schema: PROMPT_LIST_SCHEMA } },
      async handle({ query }) {
        return { status: 200, body: await prompts.list(query) };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'get',
      path: '/api/ivr/prompts/{name}',
      operationId: 'getIvrPrompt',
      summary: "Get a prompt's metadata",
      tag: TAG,
      access: 'any-role',
      params: PROMPT_PARAMS_SCHEMA,
      responses: { 200: { description: 'The prompt', schema: PROMPT_SCHEMA }, 404: promptNotFound },
      async handle({ params }) {
        return { status: 200, body: await prompts.get(params.name) };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'get',
      path: '/api/ivr/prompts/{name}/audio',
      operationId: 'downloadIvrPrompt',
      summary: 'Download a prompt',
      description: 'The WAV file as uploaded.',
      tag: TAG,
      access: 'any-role',
      params: PROMPT_PARAMS_SCHEMA,
      responses: { 200: { description: 'The WAV file', contentType: 'audio/wav' }, 404: promptNotFound },
      async handle({ params }) {
        const audio = await prompts.audio(params.name);
        return {
          status: 200,
          stream: Readable.from([audio]),
          contentType: 'audio/wav',
          headers: {
            'Content-Length': String(audio.length),
            'Content-Disposition': `attachment; filename="${params.name}.wav"`,
          },
        };
      },
    }),
    defineRoute<undefined, undefined, NameParams>({
      method: 'delete',
      path: '/api/ivr/prompts/{name}',
      operationId: 'deleteIvrPrompt',
      summary: 'Delete a prompt',
      description: 'Refused (409 ERR_IVR_PROMPT_IN_USE, `used_by`) while a menu plays it.',
      tag: TAG,
      access: 'any-role',
      params: PROMPT_PARAMS_SCHEMA,
      responses: {
        200: { description: 'Deleted', schema: DELETED_SCHEMA },
        404: promptNotFound,
        409: { description: 'Still in use (ERR_IVR_PROMPT_IN_USE)', schema: ERROR },
      },
      async handle({ params }) {
        return { status: 200, body: await prompts.remove(params.name) };
      },
    }),
  ];
}

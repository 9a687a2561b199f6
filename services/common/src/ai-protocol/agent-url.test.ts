import { agentUrlProblem } from './agent-url';

describe('agentUrlProblem', () => {
  const strict = { allowPrivate: false };
  test.each([
    ['wss://agent.example.com/x', null],
    ['ws://203.0.113.1/x', 'names a non-public address (203.0.113.1)'],
    ['ws://10.1.2.3:8080/x', 'names a non-public address (10.1.2.3)'],
    ['ws://[fe80::1]/x', 'names a non-public address (fe80::1)'],
    ['ws://[::ffff:127.0.0.1]/x', 'names a non-public address (::ffff:7f00:1)'],
    ['wss://api.localhost/x', 'names localhost'],
    ['wss://u:p@agent.example.com/', 'contains a user name or password'],
    ['http://agent.example.com/', 'not ws:// or wss://'],
    ['agent.example.com', 'not an absolute URL'],
    [`wss://a.example/${'x'.repeat(1100)}`, 'longer than 1024 characters'],
  ])('%s → %s', (url, problem) => {
    expect(agentUrlProblem(url, strict)).toBe(problem);
  });

  test('private addresses allowed → only the shape is checked', () => {
    expect(agentUrlProblem('ws://127.0.0.1:8090/agent', { allowPrivate: true })).toBeNull();
    expect(agentUrlProblem('ws://u:p@127.0.0.1/', { allowPrivate: true })).toBe('contains a user name or password');
  });
});

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ConfigIssue } from '../../src/lib/config-error';
import {
  asciiLower,
  compileRe2,
  compileRegexMatchAndSubstitute,
  compileStringMatcher,
  translateRe2,
} from '../../src/lib/matchers';

function sm(m: object): (v: string) => boolean {
  const issues: ConfigIssue[] = [];
  const fn = compileStringMatcher(m, 'm', issues);
  assert.deepEqual(issues, []);
  assert.ok(fn);
  return fn;
}

function re(p: string): (s: string) => boolean {
  const issues: ConfigIssue[] = [];
  const c = compileRe2(p, 'r', issues);
  assert.deepEqual(issues, [], `pattern ${p}`);
  assert.ok(c);
  const full = c.full;
  return (s) => full.test(s);
}

function reError(p: string): string {
  const issues: ConfigIssue[] = [];
  const c = compileRe2(p, 'r', issues);
  assert.equal(c, undefined, `pattern ${p} should be rejected`);
  assert.equal(issues.length, 1);
  return issues[0].message;
}

test('StringMatcher exact/prefix/suffix/contains, with and without ignore_case', () => {
  assert.ok(sm({ exact: 'abc' })('abc'));
  assert.ok(!sm({ exact: 'abc' })('ABC'));
  assert.ok(sm({ exact: 'abc', ignore_case: true })('aBc'));
  assert.ok(sm({ exact: '' })(''));
  assert.ok(!sm({ exact: '' })('x'));
  assert.ok(sm({ prefix: '/api' })('/api/v1'));
  assert.ok(!sm({ prefix: '/api' })('/API/v1'));
  assert.ok(sm({ prefix: '/api', ignore_case: true })('/API/v1'));
  assert.ok(sm({ suffix: '.js' })('a.js'));
  assert.ok(sm({ suffix: '.JS', ignore_case: true })('a.js'));
  assert.ok(!sm({ suffix: '.js' })('a.ts'));
  assert.ok(sm({ contains: 'mid' })('amidb'));
  assert.ok(sm({ contains: 'MID', ignore_case: true })('amidb'));
  assert.ok(!sm({ contains: 'mid' })('amdb'));
});

test('StringMatcher safe_regex is a full match', () => {
  const m = sm({ safe_regex: { google_re2: {}, regex: 'a+b' } });
  assert.ok(m('aab'));
  assert.ok(!m('xaab'));
  assert.ok(!m('aabx'));
  // regex without google_re2 is fine too
  assert.ok(sm({ safe_regex: { regex: '\\d{3}' } })('123'));
});

test('StringMatcher config errors', () => {
  const cases: Array<[object, string]> = [
    [{ prefix: '' }, 'm.prefix'],
    [{ exact: 'a', prefix: 'b' }, 'm'],
    [{}, 'm'],
    [{ safe_regex: { regex: 'a' }, ignore_case: true }, 'm.ignore_case'],
    [{ safe_regex: { regex: 'a', google_re2: { max_program_size: 10 } } }, 'm.safe_regex.google_re2.max_program_size'],
    [{ exact: 'a', custom: {} }, 'm.custom'],
    [{ safe_regex: { regex: '(a' } }, 'm.safe_regex.regex'],
  ];
  for (const [m, path] of cases) {
    const issues: ConfigIssue[] = [];
    assert.equal(compileStringMatcher(m, 'm', issues), undefined, JSON.stringify(m));
    assert.ok(issues.some((i) => i.path === path), `${JSON.stringify(m)} → ${JSON.stringify(issues)}`);
  }
});

test('RE2 translation: escapes, classes, flags', () => {
  assert.ok(re('\\Qa.b\\E')('a.b'));
  assert.ok(!re('\\Qa.b\\E')('axb'));
  assert.ok(re('[[:alpha:]]+[[:digit:]]')('abc1'));
  assert.ok(re('[]a]+')(']a]'));
  assert.ok(re('[a-c-]+')('a-c'));
  assert.ok(re('\\x41\\x{42}\\101')('ABA'));
  assert.ok(re('(?i)hello')('HeLLo'));
  assert.ok(re('(?P<name>\\w+)@(?<dom>\\w+)')('me@host'));
  assert.ok(re('a{2,3}')('aaa'));
  assert.ok(re('a{,2}')('a{,2}'), 'a { that is not a repetition is literal');
  assert.ok(re('\\pL+\\p{Greek}')('abα'));
  assert.ok(re('\\PN')('x'));
  assert.ok(re('\\#\\-\\:')('#-:'));
  // RE2 \s does not include \v
  assert.ok(re('\\s')(' '));
  assert.ok(!re('\\s')('\v'));
  // RE2 . matches \r but not \n (unless (?s))
  assert.ok(re('.')('\r'));
  assert.ok(!re('.')('\n'));
  assert.ok(re('(?s).')('\n'));
  // \A and \z
  assert.ok(re('\\Aab\\z')('ab'));
  // alternation is inside the full-match anchors
  const alt = re('foo|bar');
  assert.ok(alt('bar'));
  assert.ok(!alt('foobar'));
  assert.ok(!alt('barx'));
});

test('RE2 constructs rejected with a clear error', () => {
  assert.match(reError('(a)\\1'), /backreferences/);
  assert.match(reError('a(?=b)'), /lookahead/);
  assert.match(reError('(?<=a)b'), /lookbehind/);
  assert.match(reError('a(?i)b'), /inline flags/);
  assert.match(reError('\\C'), /\\C/);
  assert.match(reError('a{1001}'), /repetition/);
  assert.match(reError('a**'), /invalid RE2 regex/);
  assert.match(reError('[z-a]'), /range/);
  assert.match(reError('\\e'), /invalid escape/);
  assert.match(reError('(?U)a'), /ungreedy/);
});

test('translateRe2 returns source and flags', () => {
  assert.deepEqual(translateRe2('(?i)a.b'), { source: 'a[^\\n]b', flags: 'ui' });
});

test('RegexMatchAndSubstitute replaces all matches like RE2::GlobalReplace', () => {
  const issues: ConfigIssue[] = [];
  const s = compileRegexMatchAndSubstitute(
    { pattern: { google_re2: {}, regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' },
    'rr',
    issues,
  );
  assert.deepEqual(issues, []);
  assert.equal(s?.replaceAll('/service/foo/v1/api'), '/v1/api/instance/foo');
  const g = compileRegexMatchAndSubstitute({ pattern: { regex: 'o' }, substitution: '0' }, 'rr', issues);
  assert.equal(g?.replaceAll('foo boo'), 'f00 b00');
  const e = compileRegexMatchAndSubstitute({ pattern: { regex: 'b*' }, substitution: '-' }, 'rr', issues);
  assert.equal(e?.replaceAll('abc'), '-a-c-');
  const lit = compileRegexMatchAndSubstitute({ pattern: { regex: 'a' }, substitution: '$1\\\\' }, 'rr', issues);
  assert.equal(lit?.replaceAll('xa'), 'x$1\\');
  assert.deepEqual(issues, []);
  const bad: ConfigIssue[] = [];
  compileRegexMatchAndSubstitute({ pattern: { regex: '(a)' }, substitution: '\\2' }, 'rr', bad);
  assert.equal(bad[0].path, 'rr.substitution');
});

test('asciiLower lowers only ASCII and returns the same string when already lower', () => {
  const s = 'already-lower';
  assert.equal(asciiLower(s), s);
  assert.equal(asciiLower('AbC-İ'), 'abc-İ');
});

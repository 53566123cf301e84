// A strict third-party OpenID Connect relying party: oauth4webapi signs a
// user in with tokengate through the authorization code flow with PKCE,
// validates the authorization response (state, iss), the token response
// and the ID token (iss, aud, exp, iat, nonce, auth_time with max_age,
// at_hash, the RS256 signature against jwks_uri from discovery), calls
// userinfo and refreshes. The person is played over HTTP with a cookie jar:
// it fills the login page and approves the consent screen as a browser
// would. e2e/browser's TestOAuth4WebAPIClient runs it against the real
// binary; it prints one JSON line of results and exits non-zero on any
// failure.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET (empty: a public client),
// REDIRECT_URI, USERNAME, PASSWORD, SCOPE.
import * as oauth from 'oauth4webapi'
import { createHash } from 'node:crypto'

const env = (k) => {
	const v = process.env[k]
	if (!v) throw new Error(`${k} is not set`)
	return v
}
// The test server speaks plain HTTP on 127.0.0.1.
const insecure = { [oauth.allowInsecureRequests]: true }
const maxAge = 300

const issuer = new URL(env('ISSUER'))
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }))
const client = { client_id: env('CLIENT_ID'), id_token_signed_response_alg: 'RS256' }
const clientAuth = process.env.CLIENT_SECRET ? oauth.ClientSecretBasic(process.env.CLIENT_SECRET) : oauth.None()
const redirectUri = env('REDIRECT_URI')

const codeVerifier = oauth.generateRandomCodeVerifier()
const state = oauth.generateRandomState()
const nonce = oauth.generateRandomNonce()
const authz = new URL(as.authorization_endpoint)
for (const [k, v] of Object.entries({
	response_type: 'code',
	client_id: client.client_id,
	redirect_uri: redirectUri,
	scope: env('SCOPE'),
	state,
	nonce,
	max_age: String(maxAge),
	code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
	code_challenge_method: 'S256',
})) {
	authz.searchParams.set(k, v)
}

// The person in front of the browser.
const callback = await signInAndApprove(authz)

const params = oauth.validateAuthResponse(as, client, callback, state)
const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, codeVerifier, insecure)
const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, maxAge, requireIdToken: true })
await oauth.validateApplicationLevelSignature(as, response, insecure)
const claims = oauth.getValidatedIdTokenClaims(result)
const header = JSON.parse(Buffer.from(result.id_token.split('.')[0], 'base64url').toString())
if (header.alg !== 'RS256') throw new Error(`ID token alg ${header.alg}, want RS256`)
const atHash = createHash('sha256').update(result.access_token).digest().subarray(0, 16).toString('base64url')
if (claims.at_hash !== atHash) throw new Error(`ID token at_hash ${claims.at_hash}, want ${atHash}`)

const userinfo = await oauth.processUserInfoResponse(as, client, claims.sub,
	await oauth.userInfoRequest(as, client, result.access_token, insecure))

let refreshed = false
if (result.refresh_token) {
	const r = await oauth.processRefreshTokenResponse(as, client,
		await oauth.refreshTokenGrantRequest(as, client, clientAuth, result.refresh_token, insecure))
	refreshed = !!r.access_token && !!r.refresh_token && r.refresh_token !== result.refresh_token
}

console.log(JSON.stringify({
	iss: claims.iss, sub: claims.sub, aud: claims.aud, auth_time: claims.auth_time, alg: header.alg,
	scope: result.scope, userinfo_sub: userinfo.sub, refreshed,
	iss_parameter_supported: as.authorization_response_iss_parameter_supported === true,
}))

// signInAndApprove follows the authorization request as a browser does,
// with a cookie jar: it fills the login form (username, password, the
// hidden csrf_token and whatever else the form holds), approves a consent
// screen, and returns the URL of the redirect to redirectUri.
async function signInAndApprove(start) {
	const jar = new Map()
	let method = 'GET'
	let url = start
	let body
	for (let hop = 0; hop < 12; hop++) {
		const headers = {}
		if (new URL(url).origin === issuer.origin && jar.size) {
			headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
		}
		if (body) headers['content-type'] = 'application/x-www-form-urlencoded'
		const res = await fetch(url, { method, headers, body, redirect: 'manual' })
		for (const c of res.headers.getSetCookie()) {
			const [pair] = c.split(';')
			const i = pair.indexOf('=')
			jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim())
		}
		if (res.status >= 300 && res.status < 400) {
			const next = new URL(res.headers.get('location'), url)
			if (next.href.startsWith(redirectUri)) return next
			method = 'GET'
			url = next
			body = undefined
			continue
		}
		const html = await res.text()
		if (res.status !== 200) throw new Error(`${method} ${url}: ${res.status}: ${html.slice(0, 300)}`)
		const form = findForm(html)
		if (!form) throw new Error(`${url}: no form on the page: ${html.slice(0, 300)}`)
		const fields = new URLSearchParams()
		for (const input of form.inputs) {
			if (input.type === 'submit' || input.type === 'button' || input.name === undefined) continue
			let v = input.value ?? ''
			if (input.id === 'username') v = env('USERNAME')
			if (input.id === 'password') v = env('PASSWORD')
			fields.append(input.name, v)
		}
		const approve = form.buttons.find((b) => b.id === 'approve')
		if (approve && approve.name) fields.append(approve.name, approve.value ?? 'approve')
		method = (form.method || 'GET').toUpperCase()
		url = new URL(form.action || '', url)
		body = fields.toString()
	}
	throw new Error('too many redirects and pages before the redirect to the client')
}

// findForm returns the first form of the page that signs in or consents.
function findForm(html) {
	for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
		const f = attrs(m[1])
		const inputs = [...m[2].matchAll(/<input\b([^>]*)>/gi)].map((x) => attrs(x[1]))
		const buttons = [...m[2].matchAll(/<button\b([^>]*)>/gi)].map((x) => attrs(x[1]))
		if (inputs.some((i) => i.id === 'username') || buttons.some((b) => b.id === 'approve')) {
			return { action: f.action, method: f.method, inputs, buttons }
		}
	}
	return null
}

function attrs(s) {
	const out = {}
	for (const m of s.matchAll(/([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
		out[m[1].toLowerCase()] = unescapeHTML(m[2] ?? m[3] ?? m[4])
	}
	return out
}

function unescapeHTML(s) {
	return s
		.replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
		.replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
		.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
}

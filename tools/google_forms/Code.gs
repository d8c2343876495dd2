/**
 * heymarket-bridge: posts each Google Forms response to the bridge, signed (docs/sources/google_forms.md).
 *
 * Set up: Extensions > Apps Script on the form; paste this file; Project Settings > Script properties:
 * BRIDGE_URL = <WEBHOOK_URL> (https://.../webhooks/google_forms) and BRIDGE_KEY = the google_forms signing key;
 * run installTriggers once (authorize when asked). Responses submitted while the bridge cannot be reached are kept
 * in the script's properties and sent again every 10 minutes by retryPending.
 */

var SIGNATURE_HEADER = 'X-Bridge-Signature';
var ATTEMPTS = 4; // per run: at once, then after 2 s, 4 s and 8 s
var PENDING_PREFIX = 'pending:';

/** Creates the installable triggers: on form submit (onFormSubmit) and every 10 minutes (retryPending). */
function installTriggers() {
  var form = FormApp.getActiveForm();
  ScriptApp.getProjectTriggers().forEach(function (trigger) {
    var handler = trigger.getHandlerFunction();
    if (handler === 'onFormSubmit' || handler === 'retryPending') ScriptApp.deleteTrigger(trigger);
  });
  ScriptApp.newTrigger('onFormSubmit').forForm(form).onFormSubmit().create();
  ScriptApp.newTrigger('retryPending').timeBased().everyMinutes(10).create();
}

/** The installable trigger's handler: e.response is the FormResponse just submitted. */
function onFormSubmit(e) {
  var body = JSON.stringify(responseBody(FormApp.getActiveForm(), e.response));
  if (!deliver(body)) {
    PropertiesService.getScriptProperties().setProperty(PENDING_PREFIX + e.response.getId(), body);
    throw new Error('heymarket-bridge: the response was not delivered; kept for retryPending');
  }
}

/** Sends again the responses kept after a failed delivery (a time-driven trigger runs it every 10 minutes). */
function retryPending() {
  var properties = PropertiesService.getScriptProperties();
  var all = properties.getProperties();
  Object.keys(all).forEach(function (key) {
    if (key.indexOf(PENDING_PREFIX) === 0 && deliver(all[key])) properties.deleteProperty(key);
  });
}

/** The body the bridge reads (version 1): the response's id and time, and each answer by its question's title. */
function responseBody(form, response) {
  return {
    version: 1,
    form_id: form.getId(),
    form_title: form.getTitle(),
    response_id: response.getId(),
    submitted_at: response.getTimestamp().toISOString(),
    respondent_email: response.getRespondentEmail() || '',
    answers: response.getItemResponses().map(function (itemResponse) {
      var item = itemResponse.getItem();
      return { title: item.getTitle(), type: String(item.getType()), answer: itemResponse.getResponse() };
    })
  };
}

/** Posts `body`, retrying with backoff on a network failure, a 429 or a 5xx; true once the bridge accepted it. */
function deliver(body) {
  var properties = PropertiesService.getScriptProperties();
  var url = properties.getProperty('BRIDGE_URL');
  var key = properties.getProperty('BRIDGE_KEY');
  for (var attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) Utilities.sleep(1000 * Math.pow(2, attempt));
    var status = 0;
    try {
      var headers = {};
      headers[SIGNATURE_HEADER] = bridgeSignature(body, key, Math.floor(Date.now() / 1000));
      status = UrlFetchApp.fetch(url, {
        method: 'post', contentType: 'application/json', payload: body, headers: headers, muteHttpExceptions: true
      }).getResponseCode();
    } catch (error) {
      console.warn('heymarket-bridge: post failed: ' + error);
    }
    if (status >= 200 && status < 300) return true;
    if (status >= 400 && status < 500 && status !== 429 && status !== 401) {
      console.error('heymarket-bridge: the bridge refused the response (' + status + '); see the bridge logs');
      return true; // a refusal is not retried: the same body would be refused again
    }
  }
  return false;
}

/** t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by `key`>, as the bridge checks it. */
function bridgeSignature(body, key, seconds) {
  var t = String(seconds);
  var bytes = Utilities.computeHmacSha256Signature(t + '.' + body, key, Utilities.Charset.UTF_8);
  var hex = bytes.map(function (b) { return ('0' + (b & 0xff).toString(16)).slice(-2); }).join('');
  return 't=' + t + ',v1=' + hex;
}

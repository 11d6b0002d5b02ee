/* A narrow C face on libsrtp2 for cablekey's interop tests and benchmark:
 * one session per direction, one key for any SSRC, replay window 128. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <srtp2/srtp.h>

enum { SHIM_AES_CM_128_HMAC_SHA1_80 = 1, SHIM_AEAD_AES_128_GCM = 2, SHIM_AEAD_AES_256_GCM = 3 };

/* Bytes libsrtp may write past a packet: tag, MKI and the SRTCP word. */
size_t shim_trailer_room(void) { return SRTP_MAX_TRAILER_LEN + 4; }

const char *shim_version(void) { return srtp_get_version_string(); }

int shim_init(void) { return (int)srtp_init(); }

static int key_len(int suite) {
    switch (suite) {
    case SHIM_AES_CM_128_HMAC_SHA1_80: return 30;
    case SHIM_AEAD_AES_128_GCM: return 28;
    case SHIM_AEAD_AES_256_GCM: return 44;
    default: return -1;
    }
}

/* Creates a session; returns NULL and sets *err on failure. */
void *shim_session(int suite, int outbound, const uint8_t *key, size_t len, int *err) {
    srtp_policy_t policy;
    srtp_t session = NULL;
    uint8_t master[64];
    if (key_len(suite) < 0 || len != (size_t)key_len(suite)) {
        *err = -1;
        return NULL;
    }
    memset(&policy, 0, sizeof(policy));
    switch (suite) {
    case SHIM_AES_CM_128_HMAC_SHA1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
        break;
    case SHIM_AEAD_AES_128_GCM:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
        break;
    case SHIM_AEAD_AES_256_GCM:
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
        break;
    }
    memcpy(master, key, len);
    policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = master;
    policy.window_size = 128;
    policy.allow_repeat_tx = 0;
    *err = (int)srtp_create(&session, &policy);
    memset(master, 0, sizeof(master));
    return *err == 0 ? session : NULL;
}

void shim_free(void *session) {
    if (session) srtp_dealloc((srtp_t)session);
}

/* In place. `cap` is the buffer size; *len the packet length in and out. */
int shim_protect(void *s, uint8_t *buf, size_t cap, int *len) {
    if (*len < 0 || (size_t)*len + shim_trailer_room() > cap) return -1;
    return (int)srtp_protect((srtp_t)s, buf, len);
}

int shim_unprotect(void *s, uint8_t *buf, int *len) {
    return (int)srtp_unprotect((srtp_t)s, buf, len);
}

int shim_protect_rtcp(void *s, uint8_t *buf, size_t cap, int *len) {
    if (*len < 0 || (size_t)*len + shim_trailer_room() > cap) return -1;
    return (int)srtp_protect_rtcp((srtp_t)s, buf, len);
}

int shim_unprotect_rtcp(void *s, uint8_t *buf, int *len) {
    return (int)srtp_unprotect_rtcp((srtp_t)s, buf, len);
}

int shim_set_roc(void *s, uint32_t ssrc, uint32_t roc) {
    return (int)srtp_set_stream_roc((srtp_t)s, ssrc, roc);
}

#!/usr/bin/python3
"""bench/agreement_token.py - a data-access token, the real way.

    PYTHONPATH=t/integration bench/agreement_token.py PORT CATALOG OFFER

Against the gateway on 127.0.0.1:PORT (bench/agreement.conf.in), as
participant1 (an access token from its /connect/token): negotiate OFFER of
the catalog file CATALOG to FINALIZED (ContractRequestMessage -> the
gateway POSTs the ContractAgreementMessage to our callback server -> the
verification -> the FINALIZED event), request an HttpData-PULL transfer of
the agreement, and take the endpoint and the token from the
TransferStartMessage that the gateway POSTs to the callback server.
Prints one line: ENDPOINT TOKEN AGREEMENT_ID TRANSFER_PID (tab-separated);
exits non-zero with the reason when a step fails.
"""

import json
import sys

from mimtest.dsp import CallbackServer, Consumer, data_address


class Gateway:
    """What mimtest's Consumer needs of a server: its URLs."""

    def __init__(self, port):
        self.port = port

    def url(self, path, port=None):
        return "http://127.0.0.1:%d%s" % (port or self.port, path)


def offer_of(catalog_path, offer_id):
    """The ContractRequestMessage's offer: the catalog's offer, @type Offer,
    target its dataset."""
    catalog = json.load(open(catalog_path))
    for dataset in catalog["datasets"]:
        for offer in dataset["offers"]:
            if isinstance(offer, dict) and offer.get("@id") == offer_id:
                out = {"@id": offer_id, "@type": "Offer",
                       "target": dataset["@id"]}
                out.update({k: v for k, v in offer.items() if k != "@id"})
                return out
    sys.exit("offer %s is not in %s" % (offer_id, catalog_path))


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: agreement_token.py PORT CATALOG OFFER")
    gateway = Gateway(int(sys.argv[1]))
    offer = offer_of(sys.argv[2], sys.argv[3])
    consumer = Consumer(gateway)
    with CallbackServer() as callback:
        # the negotiation (as Consumer.finalize, for an offer of our own)
        pid, cpid = consumer.negotiate(offer, callback.url + "/callback")
        msg = callback.wait_for("/negotiations/%s/agreement" % cpid)
        agreement_id = msg.json["agreement"]["@id"]
        status, body = consumer.verify(pid, cpid)
        if status != 200:
            sys.exit("verification: %d %s" % (status, body))
        callback.wait_for("/negotiations/%s/events" % cpid)
        state = consumer.wait_state(pid, "FINALIZED")
        if state != "FINALIZED":
            sys.exit("negotiation %s: %s, not FINALIZED" % (pid, state))

        # the transfer: the gateway starts it and POSTs the
        # TransferStartMessage with the DataAddress
        tpid, tcpid = consumer.transfer(agreement_id,
                                        callback.url + "/callback")
        msg = callback.wait_for("/transfers/%s/start" % tcpid)
        endpoint, token = data_address(msg)
        state = consumer.wait_tp_state(tpid, "STARTED")
        if state != "STARTED":
            sys.exit("transfer %s: %s, not STARTED" % (tpid, state))
        callback.assert_all_valid()
    print("\t".join((endpoint, token, agreement_id, tpid)))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as exc:
        sys.exit("agreement_token.py: %s" % exc)

// A SmartMarket token and a GIS MT token (signed by a command) with suz_auth.hpp.
//
//   tokens EMULATOR_URL CERT_PEM KEY_PEM
#include <iostream>
#include <string>

#include "suz_auth.hpp"

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::cerr << "usage: " << argv[0] << " EMULATOR_URL CERT_PEM KEY_PEM\n";
        return 2;
    }
    const std::string url = argv[1], cert = argv[2], key = argv[3];
    const std::string sign = "[\"openssl\", \"cms\", \"-sign\", \"-engine\", \"gost\", \"-binary\", "
                             "\"-outform\", \"DER\", \"-signer\", \"" + cert + "\", \"-inkey\", \"" + key + "\"";
    try {
        suz::Client client("{\"stand\": \"emulator\", \"emulator_url\": \"" + url + "\"}");
        suz::Token push = client.token_smartmarket("e5623627-bb8c-412c-94b7-1a6998e8ef3a",
                                                   "887d15a2-cb4f-4998-9591-5b26d62d3751");
        std::cout << "SmartMarket token: " << push.value().substr(0, 4) << "… ("
                  << push.value().size() << " characters)\n";
        suz::Signer signer = suz::Signer::command("{\"attached\": " + sign + ", \"-nodetach\"], \"detached\": " +
                                                  sign + "]}");
        suz::Token suz_token = client.token_gismt("11b1abc9-f4ee-47db-8a20-f80ac83504e8", &signer);
        std::cout << "SUZ token through GIS MT: " << suz_token.value().substr(0, 4) << "…, expires at "
                  << suz_token.expires_at_ms() << "\n";
        try {
            client.token_smartmarket("e5623627-bb8c-412c-94b7-1a6998e8ef3a", "wrong secret");
        } catch (const suz::Error &e) {
            std::cout << "refused as expected: " << e.name() << ", HTTP " << e.http_status() << "\n";
        }
    } catch (const suz::Error &e) {
        std::cerr << e.name() << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}

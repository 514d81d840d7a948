// The JDK's own HTTP Digest client (java.net.HttpURLConnection with an Authenticator),
// for suite/tests/interop.rs. Run as a single-file program: `java DigestClient.java URL USER
// PASSWORD [COUNT]`.
//
// Makes COUNT GETs (one Authenticator for all) and prints one report per response as
// `name<TAB>value` lines, starting with `response<TAB>N`. The JDK does the Digest
// computation itself; which algorithm it answered with is read at the server.

import java.io.InputStream;
import java.net.Authenticator;
import java.net.HttpURLConnection;
import java.net.PasswordAuthentication;
import java.net.Proxy;
import java.net.URL;
import java.nio.charset.StandardCharsets;

public class DigestClient {
    static String escape(String value) {
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: java DigestClient.java URL USER PASSWORD [COUNT]");
            System.exit(2);
        }
        String user = args[1];
        char[] password = args[2].toCharArray();
        int count = args.length > 3 ? Integer.parseInt(args[3]) : 1;
        Authenticator authenticator = new Authenticator() {
            @Override
            protected PasswordAuthentication getPasswordAuthentication() {
                return new PasswordAuthentication(user, password);
            }
        };
        for (int index = 1; index <= count; index++) {
            HttpURLConnection connection = (HttpURLConnection) new URL(args[0]).openConnection(Proxy.NO_PROXY);
            connection.setAuthenticator(authenticator);
            connection.setConnectTimeout(10_000);
            connection.setReadTimeout(10_000);
            int status = connection.getResponseCode();
            InputStream stream = status < 400 ? connection.getInputStream() : connection.getErrorStream();
            String body = stream == null ? "" : new String(stream.readAllBytes(), StandardCharsets.UTF_8);
            String info = connection.getHeaderField("Authentication-Info");
            System.out.println("response\t" + index);
            System.out.println("status\t" + status);
            System.out.println("authentication_info\t" + escape(info == null ? "" : info));
            System.out.println("body\t" + escape(body));
            System.out.println("user_agent\t" + escape(System.getProperty("http.agent", "Java/" + System.getProperty("java.version"))));
        }
    }
}

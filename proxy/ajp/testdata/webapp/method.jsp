<%@ page contentType="text/plain; charset=UTF-8" session="false" import="java.security.MessageDigest,java.io.InputStream" %><%
  // Reports the method and body Tomcat received (reached as the 405 error page for PATCH etc.).
  byte[] buf = new byte[8192];
  long total = 0;
  MessageDigest md = MessageDigest.getInstance("SHA-256");
  InputStream in = request.getInputStream();
  int n;
  while ((n = in.read(buf)) > 0) { md.update(buf, 0, n); total += n; }
  StringBuilder hex = new StringBuilder();
  for (byte b : md.digest()) hex.append(String.format("%02x", b));
  out.println("method=" + request.getMethod());
  out.println("dispatcher=" + request.getDispatcherType());
  out.println("bodyBytes=" + total);
  out.println("bodySha256=" + hex);
%>

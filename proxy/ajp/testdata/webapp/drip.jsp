<%@ page contentType="text/plain; charset=UTF-8" session="false" buffer="none" %><%
  // drip.jsp?n=3&ms=300 : n lines, each flushed, with ms of sleep before each but the first
  // (progressive streaming: the first line must reach the client before the last is written).
  int lines = 3; long ms = 300;
  try { lines = Integer.parseInt(request.getParameter("n")); } catch (Exception ignore) { }
  try { ms = Long.parseLong(request.getParameter("ms")); } catch (Exception ignore) { }
  for (int i = 0; i < lines; i++) {
    if (i > 0) Thread.sleep(ms);
    out.println("line=" + i + " t=" + System.currentTimeMillis());
    out.flush();
  }
%>
